/**
 * Makes `npm test` run the whole suite on a developer machine: when no Kafka broker answers on
 * the test address, start the project's real broker (scripts/kafka.sh, Kafka from Maven jars)
 * and stop it afterwards. A broker that was already running (CI starts one, developers may
 * keep one up) is left alone. `DRIFTD_TEST_NO_AUTOSTART=1` disables this.
 */
import { execFile } from 'node:child_process';
import { Socket } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

function reachable(hostPort: string, timeoutMs = 500): Promise<boolean> {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.connect(Number(port), host ?? '127.0.0.1', () => done(true));
  });
}

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.DRIFTD_TEST_KAFKA_BROKERS || process.env.DRIFTD_TEST_NO_AUTOSTART === '1')
    return undefined;
  if (await reachable('127.0.0.1:19092')) return undefined;
  try {
    await run('bash', ['scripts/kafka.sh', 'fetch'], { timeout: 300_000 });
    await run('bash', ['scripts/kafka.sh', 'start'], { timeout: 120_000 });
  } catch (err) {
    // Without Java/Maven the Kafka suites skip locally (and fail under CI, where it matters).
    process.stderr.write(
      `[global-setup] could not start the test Kafka broker: ${(err as Error).message}\n`,
    );
    return undefined;
  }
  process.stderr.write(
    '[global-setup] started the test Kafka broker (scripts/kafka.sh); it stops after the run\n',
  );
  return async () => {
    await run('bash', ['scripts/kafka.sh', 'stop'], { timeout: 60_000 }).catch(() => {});
  };
}
