import { parseArgs } from 'node:util';
import { ConfigError, DriftdError } from '../errors.js';
import { VERSION } from '../version.js';

const USAGE = `driftd ${VERSION}: drift monitoring for deployed ML models

Usage: driftd <command> [options]

Commands:
  start                     run the daemon (HTTP API, /metrics, windows, store)
  demo                      run the daemon on the embedded store with a real-data demo
  baseline import           import a training-data baseline (--model M --version V --file F)
  baseline list             list stored baselines [--model M]
  replay                    feed an events file through the pipeline (--file events.jsonl [--labels F])
  rules generate            write Prometheus alert rules [--format rules|crd] [--out F]
  dashboards generate       write Grafana dashboards [--out DIR]
  config check              validate a config file
  erase                     erase one prediction and its labels (--model M --id ID); with the
                            embedded store, stop the daemon first or use its API route

Common options:
  --config, -c <file>       config file (default: $DRIFTD_CONFIG or ./driftd.yaml)
  --help, -h                this text
  --version                 print the version
`;

export interface CliIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** Resolves with the signal name when the process is asked to stop (only main.ts listens). */
  shutdown: Promise<string>;
}

/** Flags every command accepts; each command validates the ones it needs. */
const OPTIONS = {
  config: { type: 'string', short: 'c' },
  model: { type: 'string' },
  version: { type: 'string' },
  file: { type: 'string' },
  id: { type: 'string' },
  labels: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  port: { type: 'string' },
  'data-dir': { type: 'string' },
  speed: { type: 'string' },
  'exit-after-replay': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type CliFlags = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>
>['values'];

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv[0] === '--version') {
    io.out.write(`${VERSION}\n`);
    return 0;
  }
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    io.err.write(`driftd: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [command, sub, ...rest] = parsed.positionals;
  const flags = parsed.values;
  if (flags.help || command === undefined || command === 'help') {
    io.out.write(USAGE);
    return command === undefined && !flags.help ? 2 : 0;
  }
  const key = ['baseline', 'rules', 'dashboards', 'config'].includes(command)
    ? `${command} ${sub ?? ''}`.trim()
    : command;
  const extra = ['baseline', 'rules', 'dashboards', 'config'].includes(command)
    ? rest
    : [sub, ...rest].filter(Boolean);
  if (extra.length > 0) {
    io.err.write(`driftd ${key}: unexpected argument "${extra[0]}"\n`);
    return 2;
  }
  const commands: Record<
    string,
    () => Promise<{ run: (flags: CliFlags, io: CliIo) => Promise<number> }>
  > = {
    start: () => import('./commands/start.js'),
    demo: () => import('./commands/demo.js'),
    'baseline import': () => import('./commands/baseline-import.js'),
    'baseline list': () => import('./commands/baseline-list.js'),
    replay: () => import('./commands/replay.js'),
    'rules generate': () => import('./commands/rules-generate.js'),
    'dashboards generate': () => import('./commands/dashboards-generate.js'),
    'config check': () => import('./commands/config-check.js'),
    erase: () => import('./commands/erase.js'),
  };
  const load = commands[key];
  if (!load) {
    io.err.write(`driftd: unknown command "${key}"\n\n${USAGE}`);
    return 2;
  }
  try {
    const mod = await load();
    return await mod.run(flags, io);
  } catch (err) {
    io.err.write(`${formatError(key, err)}\n`);
    return err instanceof ConfigError ? 78 : 1;
  }
}

export function formatError(command: string, err: unknown): string {
  if (err instanceof ConfigError) return err.message;
  if (err instanceof DriftdError) return `driftd ${command}: ${err.message} (${err.code})`;
  return `driftd ${command}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}
