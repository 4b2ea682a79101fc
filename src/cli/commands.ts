import { CONFIG_FLAG, type FlagSpecs, type FlagValues } from './flags.js';
import type { CliIo } from './index.js';

/**
 * Commands that go through a running daemon when one answers (the embedded store is one
 * process's): where it is, the token, or never.
 */
const DAEMON_FLAGS = {
  server: {
    type: 'string',
    arg: 'url',
    description:
      "the daemon's API URL, which must answer (default: the daemon serving the config's dataDir, from <dataDir>/daemon.json; none: the store directly)",
  },
  'token-file': {
    type: 'string',
    arg: 'path',
    description:
      "file holding the API token (default: $DRIFTD_TOKEN, else the config's token with the scope needed)",
  },
  offline: {
    type: 'boolean',
    description:
      'use the store directly, even when a daemon answers (not while one runs on an embedded store)',
  },
} as const satisfies FlagSpecs;

/**
 * Every driftd command: its words, one line of summary, and its flags — the only declaration of
 * them, read by the parser (anything undeclared is refused) and by `driftd <command> --help`.
 * Adding a command: an entry here, its loader in LOADERS (the compiler asks for it), and
 * `src/cli/commands/<name>.ts` exporting `run(flags: FlagsOf<'<name>'>, io)`.
 */
export const COMMANDS = {
  start: {
    summary: 'run the daemon (HTTP API, /metrics, windows, store) until SIGTERM/SIGINT',
    flags: { ...CONFIG_FLAG },
  },
  demo: {
    summary: 'run the daemon on the embedded store with a real-data demo (no config file)',
    flags: {
      port: {
        type: 'string',
        arg: 'port',
        description: 'HTTP port on 127.0.0.1 (default 8080; 0 picks a free one)',
      },
      speed: {
        type: 'string',
        arg: 'days/s',
        description: 'event-days replayed per second (default 40)',
      },
      'data-dir': {
        type: 'string',
        arg: 'dir',
        description:
          'where the demo keeps its data, removed by the next run (default .driftd-demo)',
      },
      'exit-after-replay': {
        type: 'boolean',
        description: 'exit once the replay is done instead of serving until a signal',
      },
    },
  },
  'baseline import': {
    summary:
      'import a training-data baseline (CSV or JSONL) for one model version, through the running daemon when one answers',
    flags: {
      ...CONFIG_FLAG,
      model: {
        type: 'string',
        arg: 'id',
        description: 'model id, as in the config',
        required: true,
      },
      version: { type: 'string', arg: 'version', description: 'model version', required: true },
      file: {
        type: 'string',
        arg: 'path',
        description: 'training data: .csv or .jsonl',
        required: true,
      },
      json: { type: 'boolean', description: 'print the profile and report as JSON' },
      ...DAEMON_FLAGS,
    },
  },
  'baseline list': {
    summary: 'list stored baselines',
    flags: {
      ...CONFIG_FLAG,
      model: { type: 'string', arg: 'id', description: 'only this model' },
      json: { type: 'boolean', description: 'print JSON' },
      ...DAEMON_FLAGS,
    },
  },
  replay: {
    summary: 'feed an events file through the pipeline, then close every window',
    flags: {
      ...CONFIG_FLAG,
      file: {
        type: 'string',
        arg: 'path',
        description: 'prediction events, one JSON object per line',
        required: true,
      },
      labels: {
        type: 'string',
        arg: 'path',
        description: 'label events, one JSON object per line',
      },
    },
  },
  'rules generate': {
    summary: 'write Prometheus alert rules for the configured models',
    flags: {
      ...CONFIG_FLAG,
      format: {
        type: 'string',
        arg: 'rules|crd',
        description: 'rules file (default) or a PrometheusRule resource',
      },
      out: { type: 'string', arg: 'file', description: 'write here instead of stdout' },
    },
  },
  'dashboards generate': {
    summary: 'write the Grafana dashboards, one JSON file per dashboard',
    flags: {
      ...CONFIG_FLAG,
      out: { type: 'string', arg: 'dir', description: 'directory (default ./dashboards)' },
    },
  },
  'config check': {
    summary: 'validate a config file and summarise it',
    flags: {
      ...CONFIG_FLAG,
      json: {
        type: 'boolean',
        description: 'print the effective config as JSON (secrets redacted)',
      },
    },
  },
  report: {
    summary:
      'write the period report of a model (self-contained HTML or JSON): baselines, config, verdicts, drift, performance, fairness, alerts, lineage',
    flags: {
      ...CONFIG_FLAG,
      model: {
        type: 'string',
        arg: 'id',
        description: 'model id, as in the config',
        required: true,
      },
      from: {
        type: 'string',
        arg: 'time',
        description: 'start of the period (inclusive): ISO-8601 with a zone, or epoch ms',
        required: true,
      },
      to: {
        type: 'string',
        arg: 'time',
        description: 'end of the period (exclusive): ISO-8601 with a zone, or epoch ms',
        required: true,
      },
      format: { type: 'string', arg: 'html|json', description: 'html (default) or json' },
      out: { type: 'string', arg: 'file', description: 'write here instead of stdout' },
      ...DAEMON_FLAGS,
    },
  },
  erase: {
    summary:
      'erase one prediction and its labels (GDPR Art. 17); with the embedded store, stop the daemon first or use its API route',
    flags: {
      ...CONFIG_FLAG,
      model: {
        type: 'string',
        arg: 'id',
        description: 'model id, as in the config',
        required: true,
      },
      id: {
        type: 'string',
        arg: 'id',
        description:
          'the prediction id as the producer sent it (hashed first when it is a PII field)',
        required: true,
      },
      json: { type: 'boolean', description: 'print the answer as JSON' },
    },
  },
} as const satisfies Record<string, { summary: string; flags: FlagSpecs }>;

export type CommandName = keyof typeof COMMANDS;
/** The flags `driftd <name>` was given, typed from its declaration. */
export type FlagsOf<N extends CommandName> = FlagValues<(typeof COMMANDS)[N]['flags']>;

type Loader<N extends CommandName> = () => Promise<{
  run: (flags: FlagsOf<N>, io: CliIo) => Promise<number>;
}>;

/** Loaded on use: `driftd config check` does not load the daemon. */
export const LOADERS: { readonly [N in CommandName]: Loader<N> } = {
  start: () => import('./commands/start.js'),
  demo: () => import('./commands/demo.js'),
  'baseline import': () => import('./commands/baseline-import.js'),
  'baseline list': () => import('./commands/baseline-list.js'),
  replay: () => import('./commands/replay.js'),
  'rules generate': () => import('./commands/rules-generate.js'),
  'dashboards generate': () => import('./commands/dashboards-generate.js'),
  'config check': () => import('./commands/config-check.js'),
  report: () => import('./commands/report.js'),
  erase: () => import('./commands/erase.js'),
};
