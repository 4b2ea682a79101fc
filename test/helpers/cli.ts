import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli/index.js';

/** Runs the CLI in-process with captured output (the embedded store, if any, is real chDB). */
export async function runCliInProcess(
  ...argv: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c) => {
    stdout += c;
  });
  err.on('data', (c) => {
    stderr += c;
  });
  const code = await runCli(argv, { out, err, shutdown: new Promise(() => {}) });
  return { code, stdout, stderr };
}
