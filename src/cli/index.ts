import { ConfigError, DriftdError } from '../errors.js';
import { VERSION } from '../version.js';
import { COMMANDS, type CommandName, LOADERS } from './commands.js';
import { flagsHelp, HELP_FLAG, parseFlags, synopsis, tokensOf } from './flags.js';

export interface CliIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** Resolves with the signal name when the process is asked to stop (only main.ts listens). */
  shutdown: Promise<string>;
  /**
   * Registers what SIGHUP does (only main.ts listens): `driftd start` reloads its config.
   * Without a handler SIGHUP is ignored.
   */
  onReload?: (handler: () => void) => void;
}

const NAMES = Object.keys(COMMANDS) as CommandName[];

/** `driftd --help`: the commands, from their declarations. */
export function usage(): string {
  const width = Math.max(...NAMES.map((n) => n.length)) + 2;
  const lines = NAMES.map((n) => `  ${n.padEnd(width)}${COMMANDS[n].summary}\n`).join('');
  return `driftd ${VERSION}: drift monitoring for deployed ML models

Usage: driftd <command> [options]

Commands:
${lines}
Run \`driftd <command> --help\` for a command's options. \`driftd --version\` prints the version.
`;
}

/** `driftd <command> --help`: what it does and every flag it accepts. */
export function commandHelp(name: CommandName): string {
  const c = COMMANDS[name];
  return `Usage: driftd ${name} ${synopsis(c.flags)}\n\n${c.summary}\n\nOptions:\n${flagsHelp(c.flags)}`;
}

/** Every flag any command declares: enough to tell the command's words from flag values. */
const ANY_FLAG = Object.assign({}, HELP_FLAG, ...NAMES.map((n) => COMMANDS[n].flags));

/**
 * The command named by the first one or two positional words of argv (flags may come before
 * it), and argv without those words; `help` first asks for help on what follows.
 */
function findCommand(argv: readonly string[]) {
  const words = tokensOf(argv, ANY_FLAG).filter((t) => t.kind === 'positional');
  const helpWord = words[0]?.value === 'help';
  const named = helpWord ? words.slice(1) : words;
  const two = named.length >= 2 ? `${named[0]!.value} ${named[1]!.value}` : undefined;
  const taken = two !== undefined && two in COMMANDS ? 2 : 1;
  const key = taken === 2 ? two! : named[0]?.value;
  const drop = new Set(
    [...(helpWord ? [words[0]!] : []), ...named.slice(0, taken)].map((t) => t.index),
  );
  return {
    key,
    helpWord,
    name: key !== undefined && key in COMMANDS ? (key as CommandName) : undefined,
    rest: argv.filter((_, i) => !drop.has(i)),
  };
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.length === 1 && argv[0] === '--version') {
    io.out.write(`${VERSION}\n`);
    return 0;
  }
  const { key, helpWord, name, rest } = findCommand(argv);
  if (key === undefined) {
    const asked = helpWord || (rest.length === 1 && (rest[0] === '--help' || rest[0] === '-h'));
    (asked ? io.out : io.err).write(usage());
    return asked ? 0 : 2;
  }
  if (name === undefined) {
    const group = NAMES.filter((n) => n.startsWith(`${key} `));
    const sub = group.length > 0 ? rest.find((a) => !a.startsWith('-')) : undefined;
    const why =
      group.length === 0
        ? `unknown command "${key}"`
        : sub === undefined
          ? `"${key}" needs a subcommand: ${group.join(', ')}`
          : `unknown command "${key} ${sub}" (${group.join(', ')})`;
    io.err.write(`driftd: ${why}; driftd --help lists the commands\n`);
    return 2;
  }
  // `driftd help <command>` is `driftd <command> --help`.
  const parsed = parseFlags(helpWord ? [...rest, '--help'] : rest, COMMANDS[name].flags);
  if (!parsed.ok) {
    io.err.write(`driftd ${name}: ${parsed.error} (driftd ${name} --help lists its options)\n`);
    return 2;
  }
  if (parsed.help) {
    io.out.write(commandHelp(name));
    return 0;
  }
  try {
    const mod = await LOADERS[name]();
    return await (mod.run as (flags: unknown, io: CliIo) => Promise<number>)(parsed.values, io);
  } catch (err) {
    io.err.write(`${formatError(name, err)}\n`);
    return err instanceof ConfigError ? 78 : 1;
  }
}

export function formatError(command: string, err: unknown): string {
  if (err instanceof ConfigError) return err.message;
  if (err instanceof DriftdError) return `driftd ${command}: ${err.message} (${err.code})`;
  return `driftd ${command}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}
