#!/usr/bin/env node
/**
 * The process edge: argv in, exit code out, and the only place that touches signals and the
 * standard streams.
 *
 * - The first SIGINT/SIGTERM asks the running command to shut down gracefully; a second one
 *   forces the exit.
 * - SIGHUP reloads the config of `driftd start` (src/reload.ts); any other command ignores it
 *   (with a line on stderr). Either way a closed terminal or an `ssh` session ending must not
 *   kill a daemon without its shutdown (the open windows' checkpoint, the Kafka offsets).
 * - A closed stdout or stderr (`driftd start | head -1`, a log shipper gone) does not kill it:
 *   write errors on them (EPIPE) are ignored, and logging stops silently.
 */
import { runCli } from './cli/index.js';

for (const stream of [process.stdout, process.stderr]) {
  // Nothing useful can be done with a failed log write; without a listener it would crash us.
  stream.on('error', () => {});
}

let signalled = 0;
const shutdown = new Promise<string>((resolve) => {
  const onSignal = (signal: NodeJS.Signals) => {
    signalled++;
    if (signalled === 1) {
      process.stderr.write(`driftd: ${signal} received, shutting down (again to force)\n`);
      resolve(signal);
    } else {
      process.stderr.write(`driftd: second ${signal}, exiting now\n`);
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
});
let onReload: (() => void) | undefined;
process.on('SIGHUP', () => {
  if (onReload) onReload();
  else process.stderr.write('driftd: SIGHUP ignored (this command has no config to reload)\n');
});

let finished = false;
// A command whose pending work leaves nothing in the event loop (a promise no timer or socket
// will settle) would end with Node's bare exit code 13; say so instead.
process.on('beforeExit', () => {
  if (finished) return;
  process.stderr.write('driftd: internal error: the command stopped with work unfinished\n');
  process.exit(70);
});

const code = await runCli(process.argv.slice(2), {
  out: process.stdout,
  err: process.stderr,
  shutdown,
  onReload: (handler) => {
    onReload = handler;
  },
});
finished = true;
process.exitCode = code;
// Pending handles (sockets of a closed client, unref'd timers) must not keep a finished CLI alive.
setTimeout(() => process.exit(code), 2000).unref();
