import { parseArgs } from 'node:util';

/**
 * One command's flags, declared once: the parser accepts exactly these (anything else is refused
 * with its name) and the command's --help lists exactly these, so the two cannot diverge.
 */
export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** Placeholder of a string flag's value in the help (`--file <path>`). */
  readonly arg?: string;
  readonly description: string;
  /** Refused when missing or empty (a string flag). */
  readonly required?: true;
}
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type ValueOf<S extends FlagSpec> = S['type'] extends 'boolean' ? boolean : string;
/** What a command's run() receives: required flags are always there, the others may be absent. */
export type FlagValues<F extends FlagSpecs> = {
  readonly [K in keyof F as F[K] extends { required: true } ? K : never]: ValueOf<F[K]>;
} & {
  readonly [K in keyof F as F[K] extends { required: true } ? never : K]?: ValueOf<F[K]>;
};

/** The flag every command accepts. */
export const HELP_FLAG = {
  help: { type: 'boolean', short: 'h', description: 'this text' },
} as const satisfies FlagSpecs;

/** `--config`, for the commands that read the config file. */
export const CONFIG_FLAG = {
  config: {
    type: 'string',
    short: 'c',
    arg: 'file',
    description: 'config file (default: $DRIFTD_CONFIG or ./driftd.yaml)',
  },
} as const satisfies FlagSpecs;

export type ParsedFlags =
  | { ok: true; values: Record<string, string | boolean>; help: boolean }
  | { ok: false; error: string };

const options = (specs: FlagSpecs) =>
  Object.fromEntries(
    Object.entries(specs).map(([name, s]) => [
      name,
      s.short === undefined ? { type: s.type } : { type: s.type, short: s.short },
    ]),
  );

/** The argv tokens of `args` under `specs`, parsed leniently (unknown options stay tokens). */
export function tokensOf(args: readonly string[], specs: FlagSpecs) {
  return parseArgs({
    args: [...args],
    options: options(specs),
    strict: false,
    allowPositionals: true,
    tokens: true,
  }).tokens;
}

/**
 * Parses a command's arguments (its words already removed) against its flags. Refused, with a
 * one-line reason naming the flag: an undeclared flag, a string flag without a value (or whose
 * value is the next option), a value given to a boolean flag, a flag given twice, a missing
 * required flag, and any positional argument.
 */
export function parseFlags(args: readonly string[], specs: FlagSpecs): ParsedFlags {
  const all: FlagSpecs = { ...specs, ...HELP_FLAG };
  const values: Record<string, string | boolean> = {};
  for (const t of tokensOf(args, all)) {
    if (t.kind === 'positional') return { ok: false, error: `unexpected argument "${t.value}"` };
    if (t.kind === 'option-terminator') continue;
    const spec = all[t.name];
    if (spec === undefined) return { ok: false, error: `unknown option ${t.rawName}` };
    if (t.name in values) return { ok: false, error: `${t.rawName} given twice` };
    if (spec.type === 'boolean') {
      if (t.value !== undefined) return { ok: false, error: `${t.rawName} takes no value` };
      values[t.name] = true;
    } else {
      const v = t.value;
      if (v === undefined || (!t.inlineValue && v.startsWith('-'))) {
        return {
          ok: false,
          error: `${t.rawName} needs a value: ${t.rawName} <${spec.arg ?? 'value'}>`,
        };
      }
      values[t.name] = v;
    }
  }
  const help = values.help === true;
  delete values.help;
  if (!help) {
    for (const [name, spec] of Object.entries(specs)) {
      if (spec.required && (values[name] === undefined || values[name] === '')) {
        return { ok: false, error: `--${name} is required` };
      }
    }
  }
  return { ok: true, values, help };
}

/** The options section of a command's help: one line per flag, --help last. */
export function flagsHelp(specs: FlagSpecs): string {
  const all: FlagSpecs = { ...specs, ...HELP_FLAG };
  const rows = Object.entries(all).map(([name, s]) => {
    const names = `--${name}${s.short ? `, -${s.short}` : ''}`;
    const arg = s.type === 'string' ? ` <${s.arg ?? 'value'}>` : '';
    return [`${names}${arg}`, `${s.description}${s.required ? ' (required)' : ''}`] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, r]) => `  ${l.padEnd(width)}${r}\n`).join('');
}

/** `--model <id> --file <path> [options]`: the required flags, then the rest. */
export function synopsis(specs: FlagSpecs): string {
  const required = Object.entries(specs)
    .filter(([, s]) => s.required)
    .map(([name, s]) => `--${name} <${s.arg ?? 'value'}>`);
  return [...required, '[options]'].join(' ');
}
