/**
 * Static checks of deploy/ (Docker cannot run here): every YAML parses, every file the compose
 * stack and the Dockerfile reference exists, ports agree between driftd's config, the
 * containers, the probes, the Service and Prometheus, env vars are ones driftd reads, and the
 * generated rule files are current. `amtool`/`promtool` checks are in
 * test/integration/promtool.test.ts.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { exampleConfig, generateAssets } from '../../../scripts/generate-assets.js';
import { CONFIG_ENV_VARS, parseConfig } from '../../../src/config/index.js';
import { ALERT_NAMES } from '../../../src/export/rules.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const DEPLOY = join(ROOT, 'deploy');

/** Every DRIFTD_* variable driftd reads (src/config/load.ts CONFIG_ENV_VARS, DRIFTD_CONFIG). */
const DRIFTD_ENV = [
  'DRIFTD_CONFIG',
  'DRIFTD_API_TOKENS',
  'DRIFTD_CLICKHOUSE_PASSWORD',
  'DRIFTD_CLICKHOUSE_URL',
  'DRIFTD_KAFKA_BROKERS',
  'DRIFTD_PORT',
  'DRIFTD_HOST',
  'DRIFTD_DATA_DIR',
  'DRIFTD_PII_KEY',
  'DRIFTD_PII_KEY_FILE',
  'DRIFTD_KAFKA_SASL_PASSWORD',
  'DRIFTD_CLUSTER_ENABLED',
  'DRIFTD_CLUSTER_INSTANCE_ID',
];

/** What the deployments give driftd from their Secret: the PII key its model needs. */
const DEPLOY_ENV = { DRIFTD_PII_KEY: 'deploy-test-pii-key-0123456789abcdef' };

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
// biome-ignore lint/suspicious/noExplicitAny: shapes of third-party manifests
type Any = any;
const yaml = (path: string): Any => parse(read(path));

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('deploy/ YAML', () => {
  const yamlFiles = filesUnder(DEPLOY).filter((f) => /\.ya?ml$/.test(f));

  it('every file parses', () => {
    expect(yamlFiles.length).toBeGreaterThan(12);
    for (const file of yamlFiles) {
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
        expect(doc.errors, relative(ROOT, file)).toEqual([]);
      }
    }
  });

  it('the Kubernetes manifests are all listed in their kustomization, and exist', () => {
    // base/ (shared), . (one instance), cluster/ (cluster mode); keda/ is applied on its own.
    const dirs = { base: [], '.': ['base'], cluster: ['../base'] } as const;
    for (const [dir, bases] of Object.entries(dirs)) {
      const at = join(DEPLOY, 'kubernetes', dir);
      const k = yaml(relative(ROOT, join(at, 'kustomization.yaml')));
      const manifests = readdirSync(at).filter(
        (f) => f.endsWith('.yaml') && f !== 'kustomization.yaml' && f !== 'secret.example.yaml',
      );
      expect([...k.resources].sort(), dir).toEqual([...bases, ...manifests].sort());
      expect(k.namespace, dir).toBe('driftd');
      for (const f of manifests) {
        const doc = yaml(relative(ROOT, join(at, f)));
        expect(doc.apiVersion, f).toBeTruthy();
        expect(doc.kind, f).toBeTruthy();
        if (doc.kind !== 'Namespace') expect(doc.metadata.namespace, f).toBe('driftd');
      }
    }
  });
});

describe('docker compose', () => {
  const compose = yaml('deploy/docker-compose.yml');
  const services = compose.services as Record<string, Any>;

  it('runs Kafka (KRaft), ClickHouse, driftd, Prometheus, Alertmanager and Grafana', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['alertmanager', 'clickhouse', 'driftd', 'grafana', 'kafka', 'prometheus'].sort(),
    );
    expect(services.kafka.image).toMatch(/^apache\/kafka:/);
    expect(services.kafka.environment.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(services.kafka.environment.KAFKA_ZOOKEEPER_CONNECT).toBeUndefined();
    expect(services.clickhouse.image).toMatch(/^clickhouse\/clickhouse-server:/);
    expect(services.driftd.build).toEqual({ context: '..', dockerfile: 'deploy/Dockerfile' });
  });

  it('publishes ports on 127.0.0.1 only', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const p of (s.ports ?? []) as string[]) expect(p, name).toMatch(/^127\.0\.0\.1:/);
    }
  });

  it('mounts only files and directories that exist', () => {
    const mounts = Object.entries(services).flatMap(([name, s]) =>
      ((s.volumes ?? []) as string[]).map((v) => [name, v.split(':')[0]!] as const),
    );
    const binds = mounts.filter(([, src]) => src.startsWith('.'));
    expect(binds.length).toBeGreaterThan(6);
    for (const [name, src] of binds) {
      expect(existsSync(join(DEPLOY, src)), `${name}: ${src}`).toBe(true);
    }
    const named = mounts.filter(([, src]) => !src.startsWith('.') && !src.startsWith('/'));
    for (const [name, src] of named) {
      expect(Object.keys(compose.volumes), `${name}: volume ${src}`).toContain(src);
    }
  });

  it('serves driftd on the port its config says, scraped by Prometheus as job driftd', () => {
    const config = parseConfig(read('deploy/driftd/driftd.yaml'), { env: DEPLOY_ENV });
    const port = config.server.port;
    expect(config.server.host).toBe('0.0.0.0');
    const mount = (services.driftd.volumes as string[]).find((v) =>
      v.startsWith('./driftd/driftd.yaml:'),
    );
    expect(mount?.split(':')[1]).toBe(services.driftd.environment.DRIFTD_CONFIG);
    expect(services.driftd.ports).toEqual([`127.0.0.1:${port}:${port}`]);
    const prometheus = yaml('deploy/prometheus/prometheus.yml');
    const job = prometheus.scrape_configs.find((j: Any) => j.job_name === 'driftd');
    expect(job.static_configs[0].targets).toEqual([`driftd:${port}`]);
    expect(job.metrics_path).toBe('/metrics');
    expect(prometheus.alerting.alertmanagers[0].static_configs[0].targets).toEqual([
      'alertmanager:9093',
    ]);
  });

  it('gives driftd only env vars it reads, and secrets only from the environment', () => {
    const env = services.driftd.environment as Record<string, string>;
    for (const name of Object.keys(env)) expect(DRIFTD_ENV, name).toContain(name);
    expect(env.DRIFTD_CLICKHOUSE_PASSWORD).toMatch(/^\$\{DRIFTD_CLICKHOUSE_PASSWORD/);
    expect(services.clickhouse.environment.CLICKHOUSE_PASSWORD).toBe(
      env.DRIFTD_CLICKHOUSE_PASSWORD,
    );
  });

  it('loads the generated rules in Prometheus and the generated dashboards in Grafana', () => {
    const prometheus = yaml('deploy/prometheus/prometheus.yml');
    expect(prometheus.rule_files).toEqual(['rules/*.rules.yaml']);
    expect(services.prometheus.volumes).toContain('./prometheus/rules:/etc/prometheus/rules:ro');
    expect(existsSync(join(DEPLOY, 'prometheus/rules/driftd.rules.yaml'))).toBe(true);

    const provider = yaml('deploy/grafana/provisioning/dashboards/driftd.yaml').providers[0];
    const dashboardsMount = (services.grafana.volumes as string[]).find((v) =>
      v.startsWith('../dashboards:'),
    );
    expect(dashboardsMount?.split(':')[1]).toBe(provider.options.path);
    const ds = yaml('deploy/grafana/provisioning/datasources/driftd.yaml').datasources;
    expect(ds.find((d: Any) => d.type === 'prometheus').url).toBe('http://prometheus:9090');
    expect(ds.find((d: Any) => d.type === 'alertmanager').url).toBe('http://alertmanager:9093');
    expect(services.alertmanager.volumes).toContain(
      './alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro',
    );
  });
});

describe('Dockerfile', () => {
  const text = read('deploy/Dockerfile');
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const compose = yaml('deploy/docker-compose.yml');
  const context = resolve(DEPLOY, compose.services.driftd.build.context);

  it('is multi-stage on the Node 24 LTS slim image and runs as the non-root uid Kubernetes sets', () => {
    const from = lines.filter((l) => l.startsWith('FROM '));
    expect(from).toEqual(['FROM node:24-slim AS build', 'FROM node:24-slim']);
    // The image's runtime is at least the oldest one package.json supports.
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines;
    expect(Number(/^>=(\d+)/.exec(engines.node)?.[1])).toBeLessThanOrEqual(24);
    const users = lines.filter((l) => l.startsWith('USER '));
    expect(users.at(-1)).toBe('USER 1000:1000');
    const k8s = read('deploy/kubernetes/deployment.yaml');
    expect(k8s).toMatch(/runAsUser: 1000\b/);
  });

  it('copies only paths that exist in the build context', () => {
    const copies = lines.filter((l) => l.startsWith('COPY ') && !l.includes('--from='));
    expect(copies.length).toBeGreaterThan(2);
    for (const line of copies) {
      const parts = line.split(/\s+/).slice(1);
      for (const src of parts.slice(0, -1)) {
        expect(existsSync(join(context, src)), `${line}: ${src}`).toBe(true);
      }
    }
  });

  it('starts driftd with its config, exposes the config port and checks /healthz', () => {
    const config = parseConfig(read('deploy/driftd/driftd.yaml'), { env: DEPLOY_ENV });
    expect(lines).toContain(`EXPOSE ${config.server.port}`);
    // The package's `driftd` bin, so the image runs `driftd start --config ...`.
    const bin = (JSON.parse(read('package.json')) as { bin: Record<string, string> }).bin.driftd;
    expect(lines).toContain(`ENTRYPOINT ["node", "/app/${bin}"]`);
    expect(lines).toContain('CMD ["start", "--config", "/etc/driftd/driftd.yaml"]');
    const health = lines.find((l) => l.startsWith('HEALTHCHECK'));
    expect(health).toContain('/healthz');
    expect(health).toContain(String(config.server.port));
  });

  it('sets only env vars driftd reads', () => {
    const env = lines
      .filter((l) => l.startsWith('ENV '))
      .flatMap((l) => [...l.matchAll(/(\w+)=/g)].map((m) => m[1]!))
      .filter((n) => n.startsWith('DRIFTD_'));
    expect(env.length).toBeGreaterThan(0);
    for (const name of env) expect(DRIFTD_ENV).toContain(name);
  });
});

describe('Kubernetes', () => {
  const configMap = yaml('deploy/kubernetes/base/configmap.yaml');
  const deployment = yaml('deploy/kubernetes/deployment.yaml');
  const service = yaml('deploy/kubernetes/base/service.yaml');
  const monitor = yaml('deploy/kubernetes/base/servicemonitor.yaml');
  const secret = yaml('deploy/kubernetes/secret.example.yaml');
  const pod = deployment.spec.template;
  const container = pod.spec.containers[0];
  const config = parseConfig(configMap.data['driftd.yaml'], { env: DEPLOY_ENV });

  const containerPort = (port: number | string): number => {
    if (typeof port === 'number') return port;
    const named = container.ports.find((p: Any) => p.name === port);
    expect(named, `named port ${port}`).toBeDefined();
    return named.containerPort;
  };

  it('server.port = containerPort = probe ports = Service targetPort', () => {
    const port = config.server.port;
    expect(config.server.host).toBe('0.0.0.0');
    expect(container.ports.map((p: Any) => p.containerPort)).toEqual([port]);
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      expect(containerPort(container[probe].httpGet.port), probe).toBe(port);
    }
    expect(containerPort(service.spec.ports[0].targetPort)).toBe(port);
  });

  it('selectors match: Deployment → pods, Service → pods, ServiceMonitor → Service port', () => {
    const podLabels = pod.metadata.labels;
    expect(podLabels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(podLabels).toMatchObject(service.spec.selector);
    expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(monitor.spec.endpoints[0].port).toBe(service.spec.ports[0].name);
    expect(monitor.spec.endpoints[0].path).toBe('/metrics');
    // The ServiceMonitor's job label is the Service name; the rules expect up{job="driftd"}.
    expect(service.metadata.name).toBe('driftd');
  });

  it('mounts the ConfigMap where DRIFTD_CONFIG and the args point', () => {
    const env = Object.fromEntries(container.env.map((e: Any) => [e.name, e.value ?? e.valueFrom]));
    const configMount = container.volumeMounts.find((m: Any) => m.name === 'config');
    const volume = pod.spec.volumes.find((v: Any) => v.name === 'config');
    expect(volume.configMap.name).toBe(configMap.metadata.name);
    expect(env.DRIFTD_CONFIG).toBe(`${configMount.mountPath}/driftd.yaml`);
    expect(container.args).toEqual(['start', '--config', env.DRIFTD_CONFIG]);
    const dataMount = container.volumeMounts.find((m: Any) => m.mountPath === config.dataDir);
    expect(dataMount, 'dataDir is writable').toBeDefined();
  });

  it('takes secrets from the Secret, by env names driftd reads', () => {
    for (const e of container.env) expect(DRIFTD_ENV, e.name).toContain(e.name);
    const fromSecret = container.env.filter((e: Any) => e.valueFrom?.secretKeyRef);
    expect(fromSecret.map((e: Any) => e.name).sort()).toEqual(
      ['DRIFTD_API_TOKENS', 'DRIFTD_CLICKHOUSE_PASSWORD', 'DRIFTD_PII_KEY'].sort(),
    );
    for (const e of fromSecret) {
      expect(e.valueFrom.secretKeyRef.name).toBe(secret.metadata.name);
      expect(Object.keys(secret.stringData)).toContain(e.valueFrom.secretKeyRef.key);
    }
    expect(config.store.kind === 'clickhouse' && config.store.password).toBe('');
    expect(config.server.apiTokens).toEqual([]);
  });

  it('sets resources and a restricted security context', () => {
    expect(container.resources.requests.cpu).toBeTruthy();
    expect(container.resources.requests.memory).toBeTruthy();
    expect(container.resources.limits.memory).toBeTruthy();
    expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
  });
});

describe('configs stay in line with the example the rules are generated from', () => {
  it('compose and Kubernetes run the models of examples/driftd.yaml', async () => {
    const example = await exampleConfig();
    const compose = parseConfig(read('deploy/driftd/driftd.yaml'), { env: DEPLOY_ENV });
    const k8s = parseConfig(yaml('deploy/kubernetes/base/configmap.yaml').data['driftd.yaml'], {
      env: DEPLOY_ENV,
    });
    expect(compose.models).toEqual(example.models);
    expect(k8s.models).toEqual(example.models);
    expect(compose.server.port).toBe(example.server.port);
  });

  it('the env var list here matches the config loader', () => {
    for (const v of CONFIG_ENV_VARS) expect(DRIFTD_ENV).toContain(v.name);
  });

  it('the committed generated rule files are current (run scripts/generate-assets.ts)', async () => {
    const files = generateAssets(await exampleConfig());
    const deployFiles = [...files.keys()].filter((p) => p.startsWith('deploy/'));
    expect(deployFiles.sort()).toEqual([
      'deploy/kubernetes/base/prometheusrule.yaml',
      'deploy/prometheus/rules/driftd.rules.yaml',
    ]);
    for (const path of deployFiles) {
      expect(read(path), `${path} is stale`).toBe(files.get(path));
    }
  });
});

describe('Alertmanager config', () => {
  const am = yaml('deploy/alertmanager/alertmanager.yml');

  it('groups per alert and model', () => {
    expect(am.route.group_by).toEqual(['alertname', 'model']);
  });

  it('silences feature-drift warnings under a dataset-drift alert of the same model version and window', () => {
    expect(am.inhibit_rules).toContainEqual({
      source_matchers: ['alertname="DriftdDatasetDrift"'],
      target_matchers: ['alertname="DriftdFeatureDrift"'],
      equal: ['model', 'version', 'window'],
    });
  });

  it('names only alerts driftd generates', () => {
    const text = read('deploy/alertmanager/alertmanager.yml');
    const names = new Set([...text.matchAll(/\bDriftd[A-Z]\w+/g)].map((m) => m[0]));
    for (const name of names) expect(ALERT_NAMES as readonly string[]).toContain(name);
  });

  it('reads every secret from a file the compose stack mounts', () => {
    const text = read('deploy/alertmanager/alertmanager.yml');
    const files = [...text.matchAll(/\/etc\/alertmanager\/secrets\/([\w.-]+)/g)].map((m) => m[1]!);
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) {
      expect(existsSync(join(DEPLOY, 'alertmanager/secrets', f)), f).toBe(true);
    }
    expect(text).not.toMatch(/routing_key:|api_url:|service_key:/);
  });

  it('every receiver in the routing tree is defined', () => {
    const defined = new Set(am.receivers.map((r: Any) => r.name));
    const used: string[] = [];
    const walk = (route: Any) => {
      if (route.receiver) used.push(route.receiver);
      for (const r of route.routes ?? []) walk(r);
    };
    walk(am.route);
    for (const r of used) expect(defined, r).toContain(r);
  });
});
