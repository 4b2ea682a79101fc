import { describe, expect, it } from 'vitest';
import { COMMANDS, type CommandName, LOADERS } from '../../../src/cli/commands.js';
import { type FlagSpec, parseFlags } from '../../../src/cli/flags.js';
import { runCliInProcess } from '../../helpers/cli.js';

/**
 * The CLI's flags come from one declaration per command (src/cli/commands.ts): every command's
 * --help lists exactly its flags, and every flag it does not declare is refused (exit 2, one
 * line naming it). Iterates every command, so a new one is covered by being declared.
 */

const cli = runCliInProcess;

const NAMES = Object.keys(COMMANDS) as CommandName[];
const flagsOf = (name: CommandName): Record<string, FlagSpec> => COMMANDS[name].flags;
const ALL_FLAGS = new Set(NAMES.flatMap((n) => Object.keys(flagsOf(n))));

describe('driftd --help', () => {
  it('lists every command with its summary (exit 0, stdout)', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const r = await cli(...argv);
      expect([r.code, r.stderr]).toEqual([0, '']);
      for (const n of NAMES) expect(r.stdout).toContain(`  ${n} `);
    }
  });

  it('without a command prints the usage on stderr and exits 2', async () => {
    const r = await cli();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage: driftd <command>');
  });
});

describe.each(NAMES)('driftd %s', (name) => {
  const words = name.split(' ');
  const flags = flagsOf(name);

  it('--help lists exactly its own flags (exit 0); `driftd help <command>` is the same', async () => {
    const r = await cli(...words, '--help');
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout.startsWith(`Usage: driftd ${name} `)).toBe(true);
    expect(r.stdout).toContain(COMMANDS[name].summary);
    const listed = [...r.stdout.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]);
    expect(listed).toEqual([...Object.keys(flags), 'help']);
    for (const [flag, spec] of Object.entries(flags)) {
      const line = r.stdout.split('\n').find((l) => l.startsWith(`  --${flag}`))!;
      expect(line).toContain(spec.description);
      if (spec.required) expect(line).toContain('(required)');
    }
    expect(await cli('help', ...words)).toEqual(r);
    expect((await cli(...words, '-h')).stdout).toBe(r.stdout);
  });

  it('refuses every flag it does not declare: exit 2, one line naming it', async () => {
    const foreign = [...ALL_FLAGS].filter((f) => !(f in flags));
    for (const f of [...foreign, 'bogus']) {
      const r = await cli(...words, `--${f}`, '1');
      expect([r.code, r.stdout], f).toEqual([2, '']);
      expect(r.stderr).toBe(
        `driftd ${name}: unknown option --${f} (driftd ${name} --help lists its options)\n`,
      );
    }
  });

  it('refuses a flag without its value, a value for a switch, a repeated flag, a stray argument', async () => {
    const refused = async (argv: string[], reason: RegExp) => {
      const r = await cli(...words, ...argv);
      expect([r.code, r.stdout], argv.join(' ')).toEqual([2, '']);
      expect(r.stderr.split('\n')).toHaveLength(2);
      expect(r.stderr).toMatch(reason);
    };
    for (const [flag, spec] of Object.entries(flags)) {
      if (spec.type === 'string') {
        await refused([`--${flag}`], new RegExp(`--${flag} needs a value`));
        await refused([`--${flag}`, '--help'], new RegExp(`--${flag} needs a value`));
        await refused([`--${flag}=a`, `--${flag}=b`], new RegExp(`--${flag} given twice`));
      } else {
        await refused([`--${flag}=yes`], new RegExp(`--${flag} takes no value`));
      }
    }
    await refused(['stray'], /unexpected argument "stray"/);
  });

  it('names each missing required flag (exit 2)', async () => {
    const required = Object.entries(flags).filter(([, s]) => s.required);
    for (const [missing] of required) {
      const given = required.filter(([f]) => f !== missing).flatMap(([f]) => [`--${f}`, 'x']);
      const r = await cli(...words, ...given);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--${missing} is required`);
    }
  });

  it('has a module whose run() takes the flags', async () => {
    const mod = await LOADERS[name]();
    expect(typeof mod.run).toBe('function');
  });
});

describe('flag declarations', () => {
  it('a flag name means the same kind of flag in every command', () => {
    const kinds = new Map<string, string>();
    for (const n of NAMES) {
      for (const [f, s] of Object.entries(flagsOf(n))) {
        const kind = `${s.type}${s.short ?? ''}`;
        expect(kinds.get(f) ?? kind, `${n} --${f}`).toBe(kind);
        kinds.set(f, kind);
        expect(s.description.length, `${n} --${f}`).toBeGreaterThan(0);
      }
    }
  });

  it('flags may come before the command and take --name=value', () => {
    expect(parseFlags(['--file=a.jsonl', '-c', 'x.yaml'], flagsOf('replay'))).toEqual({
      ok: true,
      values: { file: 'a.jsonl', config: 'x.yaml' },
      help: false,
    });
    // A value that starts with "-" needs the = form.
    expect(parseFlags(['--file=-odd', '--labels', '-x'], flagsOf('replay'))).toEqual({
      ok: false,
      error: '--labels needs a value: --labels <path>',
    });
  });
});

describe('the reported cases (issue 17)', () => {
  it('`driftd start --port 23456` is refused, naming --port', async () => {
    const r = await cli('start', '--port', '23456');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^driftd start: unknown option --port /);
  });

  it("demo's --help shows --port --speed --data-dir --exit-after-replay", async () => {
    const r = await cli('demo', '--help');
    for (const f of ['--port', '--speed', '--data-dir', '--exit-after-replay']) {
      expect(r.stdout).toContain(f);
    }
  });

  it('flags before the command work; an unknown subcommand is named', async () => {
    expect((await cli('--config', 'x.yaml', 'config', 'check', '--help')).code).toBe(0);
    const r = await cli('baseline', 'frob');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "baseline frob"');
    expect((await cli('baseline')).stderr).toContain('"baseline" needs a subcommand');
  });

  it('demo honours --port and --speed: bad values are refused naming them', async () => {
    const port = await cli('demo', '--port', '70000', '--data-dir', '/nonexistent/driftd-demo');
    expect(port.code).toBe(78);
    expect(port.stderr).toContain('--port must be an integer');
    const speed = await cli('demo', '--speed', '0', '--data-dir', '/nonexistent/driftd-demo');
    expect(speed.code).toBe(78);
    expect(speed.stderr).toContain('--speed must be a positive number');
  });
});
