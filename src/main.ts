#!/usr/bin/env node
/**
 * The process edge: argv in, exit code out, and the only place that touches signals. The
 * first SIGINT/SIGTERM asks the running command to shut down gracefully; a second one forces
 * the exit.
 */
import { runCli } from './cli/index.js';

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

const code = await runCli(process.argv.slice(2), {
  out: process.stdout,
  err: process.stderr,
  shutdown,
});
process.exitCode = code;
// Pending handles (sockets of a closed client, unref'd timers) must not keep a finished CLI alive.
setTimeout(() => process.exit(code), 2000).unref();
