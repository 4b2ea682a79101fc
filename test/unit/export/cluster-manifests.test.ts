/**
 * deploy/kubernetes/cluster (cluster mode: StatefulSet, PodDisruptionBudget, Services) and
 * deploy/kubernetes/keda (the optional ScaledObject) hold what cluster mode needs, read field by
 * field; the ScaledObject validates against KEDA's published CRD schema (test/fixtures/crds,
 * from KEDA's release module by scripts/crd-schemas.ts) as `kubectl apply --validate=strict`
 * would. kubectl's kustomize builds both kustomizations when kubectl is installed.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CONFIG_ENV_VARS, parseConfig } from '../../../src/config/index.js';
import { resolveTuning } from '../../../src/ingest/kafka/options.js';
import { crdValidator, ROOT, readCrdFixture, readYaml } from '../../helpers/rollout-templates.js';

const DEPLOY_ENV = { DRIFTD_PII_KEY: 'deploy-test-pii-key-0123456789abcdef' };
const set = readYaml('deploy/kubernetes/cluster/statefulset.yaml');
const single = readYaml('deploy/kubernetes/deployment.yaml');
const pdb = readYaml('deploy/kubernetes/cluster/poddisruptionbudget.yaml');
const headless = readYaml('deploy/kubernetes/cluster/service-headless.yaml');
const api = readYaml('deploy/kubernetes/base/service.yaml');
const monitor = readYaml('deploy/kubernetes/base/servicemonitor.yaml');
const configMap = readYaml('deploy/kubernetes/base/configmap.yaml');
const scaled = readYaml('deploy/kubernetes/keda/scaledobject.yaml');
const pod = set.spec.template;
const container = pod.spec.containers[0];
const env = (name: string) => container.env.find((e: { name: string }) => e.name === name);

/** The config each cluster pod runs: the shared ConfigMap plus the pod's env. */
function podConfig(podName: string) {
  return parseConfig(configMap.data['driftd.yaml'], {
    env: {
      ...DEPLOY_ENV,
      DRIFTD_CLUSTER_ENABLED: env('DRIFTD_CLUSTER_ENABLED').value,
      DRIFTD_CLUSTER_INSTANCE_ID: podName,
    },
  });
}

describe('the single-instance Deployment', () => {
  it('runs one pod and never two at once (Recreate, not a surge)', () => {
    expect(single.spec.replicas).toBe(1);
    expect(single.spec.strategy).toEqual({ type: 'Recreate' });
    const singleEnv = single.spec.template.spec.containers[0].env.map(
      (e: { name: string }) => e.name,
    );
    expect(singleEnv).not.toContain('DRIFTD_CLUSTER_ENABLED');
  });
});

describe('the cluster StatefulSet', () => {
  it('3 replicas, parallel pods, rolling updates one at a time', () => {
    expect(set.kind).toBe('StatefulSet');
    expect(set.spec.replicas).toBe(3);
    expect(set.spec.podManagementPolicy).toBe('Parallel');
    // maxUnavailable above 1 would need a feature gate: the default is one pod at a time.
    expect(set.spec.updateStrategy).toEqual({ type: 'RollingUpdate' });
    expect(set.spec.serviceName).toBe(headless.metadata.name);
  });

  it('turns cluster mode on with the pod name as instance id (downward API)', () => {
    expect(env('DRIFTD_CLUSTER_ENABLED').value).toBe('true');
    expect(env('DRIFTD_CLUSTER_INSTANCE_ID').valueFrom).toEqual({
      fieldRef: { fieldPath: 'metadata.name' },
    });
    // The config each pod then runs is valid cluster mode on the ClickHouse server store.
    for (const name of ['driftd-0', 'driftd-1', 'driftd-2']) {
      const config = podConfig(name);
      expect(config.cluster).toMatchObject({ enabled: true, instanceId: name });
      expect(config.store.kind).toBe('clickhouse');
      expect(config.kafka).not.toBeNull();
    }
  });

  it('readiness on /readyz; a grace period above the Kafka close timeout', () => {
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    const { closeTimeoutMs } = resolveTuning(undefined);
    // The batch in flight and the final lane checkpoints, then the HTTP lane's checkpoint.
    expect(pod.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(2 * closeTimeoutMs);
  });

  it('sets only env vars driftd reads', () => {
    const read = ['DRIFTD_CONFIG', ...CONFIG_ENV_VARS.map((v) => v.name)];
    for (const e of container.env) expect(read, e.name).toContain(e.name);
  });

  it('runs the same image, ports, probes, secrets and security context as the Deployment', () => {
    const other = single.spec.template.spec.containers[0];
    for (const key of [
      'image',
      'args',
      'ports',
      'livenessProbe',
      'readinessProbe',
      'startupProbe',
      'resources',
      'securityContext',
      'volumeMounts',
    ]) {
      expect(container[key], key).toEqual(other[key]);
    }
    const secrets = (c: { env: Array<{ name: string; valueFrom?: unknown }> }) =>
      c.env.filter((e) => (e.valueFrom as { secretKeyRef?: unknown })?.secretKeyRef);
    expect(secrets(container)).toEqual(secrets(other));
    expect(pod.spec.securityContext).toEqual(single.spec.template.spec.securityContext);
    expect(pod.spec.volumes).toEqual(single.spec.template.spec.volumes);
  });

  it('pods are selected by the PDB, the API Service (and so scraped), and the headless Service', () => {
    const labels = pod.metadata.labels;
    expect(labels).toMatchObject(set.spec.selector.matchLabels);
    expect(labels).toMatchObject(pdb.spec.selector.matchLabels);
    expect(labels).toMatchObject(api.spec.selector);
    expect(labels).toMatchObject(headless.spec.selector);
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1 });
    expect(pdb.spec.minAvailable).toBeUndefined();
    expect(headless.spec.clusterIP).toBe('None');
    // Scraped once per pod: through the API Service only.
    const selected = (svc: ReturnType<typeof readYaml>) =>
      Object.entries(monitor.spec.selector.matchLabels).every(
        ([k, v]) => svc.metadata.labels?.[k] === v,
      );
    expect(selected(api)).toBe(true);
    expect(selected(headless)).toBe(false);
  });
});

describe('the KEDA ScaledObject', () => {
  const crd = readCrdFixture('keda-scaledobject.schema.json');

  it('is a valid ScaledObject of KEDA v2 (published CRD schema, strict fields)', () => {
    expect(scaled.apiVersion).toBe(`${crd.source.group}/${crd.source.apiVersion}`);
    expect(scaled.kind).toBe(crd.source.kind);
    const validate = crdValidator(crd.openAPIV3Schema);
    expect(validate(scaled), JSON.stringify(validate.errors, null, 2)).toBe(true);
    // The validation can fail: a typo, a number where KEDA's metadata takes strings.
    expect(validate({ ...scaled, spec: { ...scaled.spec, minReplicas: 1 } })).toBe(false);
    const trigger = scaled.spec.triggers[0];
    const numeric = { ...trigger, metadata: { ...trigger.metadata, lagThreshold: 50000 } };
    expect(validate({ ...scaled, spec: { ...scaled.spec, triggers: [numeric] } })).toBe(false);
  });

  it('scales the cluster StatefulSet on the lag of its group on the predictions topic', () => {
    const config = podConfig('driftd-0');
    expect(scaled.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      name: set.metadata.name,
    });
    const [trigger, ...rest] = scaled.spec.triggers;
    expect(rest).toEqual([]);
    expect(trigger.type).toBe('kafka');
    const m = trigger.metadata;
    expect(m.bootstrapServers.split(',')).toEqual(config.kafka?.brokers);
    expect(m.consumerGroup).toBe(config.kafka?.groupId);
    expect(m.topic).toBe(config.kafka?.predictionsTopic);
    expect(Number(m.lagThreshold)).toBeGreaterThan(0);
    // driftd starts a partition without a committed offset at the earliest message.
    expect(m.offsetResetPolicy).toBe('earliest');
    // Keys of KEDA's Kafka scaler (pkg/scalers/kafka_scaler.go, v2.20.2).
    const known = [
      'bootstrapServers',
      'consumerGroup',
      'topic',
      'lagThreshold',
      'activationLagThreshold',
      'offsetResetPolicy',
      'allowIdleConsumers',
      'excludePersistentLag',
      'limitToPartitionsWithLag',
      'partitionLimitation',
      'tls',
      'sasl',
    ];
    for (const key of Object.keys(m)) expect(known, key).toContain(key);
  });

  it('from one instance up to the partition count, never below one', () => {
    expect(scaled.spec.minReplicaCount).toBe(1);
    expect(scaled.spec.maxReplicaCount).toBeGreaterThanOrEqual(set.spec.replicas);
    expect(scaled.spec.triggers[0].metadata.allowIdleConsumers).toBe('false');
    expect(scaled.metadata.namespace).toBe(set.metadata.namespace);
  });
});

describe('kustomize builds (kubectl kustomize, when installed)', () => {
  const kubectl = (() => {
    try {
      execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!kubectl)(
    'one instance: a Deployment; cluster: a StatefulSet, PDB and two Services, no Deployment',
    () => {
      const build = (dir: string) =>
        parseAllDocuments(
          execFileSync('kubectl', ['kustomize', dir], { cwd: ROOT, encoding: 'utf8' }),
        )
          .map((d) => d.toJS() as { kind: string; metadata: { name: string } })
          .map((d) => `${d.kind}/${d.metadata.name}`)
          .sort();
      const shared = [
        'ConfigMap/driftd-config',
        'Namespace/driftd',
        'PrometheusRule/driftd',
        'Service/driftd',
        'ServiceMonitor/driftd',
      ];
      expect(build('deploy/kubernetes')).toEqual([...shared, 'Deployment/driftd'].sort());
      expect(build('deploy/kubernetes/cluster')).toEqual(
        [
          ...shared,
          'PodDisruptionBudget/driftd',
          'Service/driftd-pods',
          'StatefulSet/driftd',
        ].sort(),
      );
    },
  );
});
