/**
 * Issue 18's proof for HTTP behind a load balancer: three driftd daemons (real child
 * processes, cluster mode, no Kafka) share one ClickHouse store (the server driver against the
 * stand-in HTTP interface); each one's HTTP input is a lane of its own. Batches of events are
 * POSTed round robin across them; mid-stream one instance is SIGKILLed with a request in flight
 * and restarted with the same instanceId (its lane resumes from its lane checkpoint and its
 * stored events), and the client sends the failed batch again, with its Idempotency-Key, to the
 * same instance. At the end every window result must EQUAL that of ONE ordinary
 * single-instance daemon fed the same requests (test/helpers/cluster.ts), each window written
 * once (one revision, reason close) and finalised once, every event stored once.
 *
 * The input: 20 rounds × 4 batches × 75 events; in round r every batch has event times in
 * [r·30 s, (r+1)·30 s), and round r+1 starts once all of round r is answered. With 30 s of
 * allowed lateness no event can be late in any lane or order, so both runs have one answer.
 * Rounds 10–13 shift income (drift). Then one event 3 h ahead to each instance (and the same
 * three to the reference): every window closes by watermark in every lane.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import { httpLane, windowKeyString } from '../../src/cluster/types.js';
import type { PerformanceResult } from '../../src/types.js';
import {
  type Cluster,
  comparable,
  createCluster,
  resultDifferences,
  sortResults,
  waitUntil,
} from '../helpers/cluster.js';
import { CRASH_MODEL, crashEvent, crashModelConfig } from '../helpers/crash-events.js';
import type { DaemonProcess } from '../helpers/daemon-process.js';
import { lcgNormals } from '../helpers/random.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 6 * HOUR;
const MODEL = CRASH_MODEL;
const INSTANCES = ['i-1', 'i-2', 'i-3'];
const ROUNDS = 20;
const PER_ROUND = 4;
const PER_BATCH = 75;
const ROUND_MS = 30_000;
const KILL_ROUND = 8;
const LABELS = '/api/v1/labels';
const TOTAL = ROUNDS * PER_ROUND * PER_BATCH + INSTANCES.length;
const WINDOWS_1M = (ROUNDS * ROUND_MS) / MINUTE;
const WINDOWS = WINDOWS_1M + WINDOWS_1M / 5;

/** The body of batch b of round r. */
function body(b: number, round: number): string {
  const r = lcgNormals(10_000 * round + b + 1);
  const shift = round >= 10 && round < 14 ? 1 : 0;
  return JSON.stringify(
    Array.from({ length: PER_BATCH }, (_, i) =>
      crashEvent(
        `b${b}-r${round}-${i}`,
        T0 + round * ROUND_MS + Math.floor(r.u() * ROUND_MS),
        r,
        shift,
      ),
    ),
  );
}

/** Labels of every 2nd event of batch b of round r (sent a round later, to another instance). */
function labels(b: number, round: number): string {
  const noise = lcgNormals(77 + 10_000 * round + b);
  const events = JSON.parse(body(b, round)) as Array<{ id: string; prediction: number }>;
  return JSON.stringify(
    events
      .filter((_, i) => i % 2 === 0)
      .map((e) => ({
        model: MODEL,
        id: e.id,
        label: e.prediction + 0.3 * noise.z() > 0.5 ? 1 : 0,
      })),
  );
}

const sentinel = (i: number) =>
  JSON.stringify([crashEvent(`sentinel-${i}`, T0 + 3 * HOUR, lcgNormals(7 + i), 0)]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('cluster mode, HTTP: 3 instances behind a load balancer, one SIGKILLed and restarted vs one instance (child processes, ClickHouse stand-in)', () => {
  let cluster: Cluster | undefined;
  afterAll(async () => {
    await cluster?.close();
  });

  /**
   * Sends one request until it is answered, with its Idempotency-Key, to whatever `url()`
   * names (undefined while that instance is down). Returns the answer's body.
   */
  async function send(
    url: () => string | undefined,
    key: string,
    payload: string,
    stats: { resent: number },
    path = '/api/v1/events',
  ): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const base = url();
      if (base === undefined) {
        await sleep(20);
        continue;
      }
      if (attempt > 0) stats.resent++;
      try {
        const res = await fetch(`${base}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key },
          body: payload,
        });
        const text = await res.text();
        if (res.status === 202) return text;
        if (res.status < 500) throw new Error(`${key}: ${res.status} ${text}`);
      } catch (err) {
        if ((err as Error).message.startsWith(key)) throw err;
        // No answer (the instance died or is restarting): send it again.
      }
      await sleep(20);
    }
  }

  it('every window equals the single-instance run, written once and finalised once', async () => {
    const c = await createCluster({
      name: 'http',
      models: [crashModelConfig('30s')],
      env: { DRIFTD_HTTP_CHECKPOINT_INTERVAL_MS: '300' },
      async prepare(store, config) {
        const r = lcgNormals(1);
        const rows = Array.from({ length: 5000 }, (_, i) => crashEvent(`b-${i}`, T0 - HOUR, r, 0));
        await store.saveBaseline(buildProfileFromRows(config.models[0]!, '7', rows).profile);
      },
    });
    cluster = c;
    const notes: string[] = [];
    await c.start(...INSTANCES);

    // The cluster run: batch n goes to instance n mod 3 (round robin).
    const stats = { resent: 0 };
    const answers = new Map<string, string>();
    const urlOf = (id: string) => () => c.instances.get(id)?.url;
    let n = 0;
    let killedWithRequestInFlight = false;
    let i2: DaemonProcess | undefined;
    for (let round = 0; round < ROUNDS; round++) {
      if (round === KILL_ROUND) {
        // i-2 has checkpointed its lane with events in it before it dies.
        await waitUntil(
          'a checkpoint of http:i-2 with events',
          async () =>
            (await c.progress()).some((p) => p.lane === httpLane('i-2') && Number(p.position) > 0),
          30_000,
        );
      }
      const targets: string[] = [];
      const sends: Promise<unknown>[] = Array.from({ length: PER_ROUND }, (_, b) => {
        const id = INSTANCES[n++ % INSTANCES.length]!;
        targets.push(id);
        const key = `b${b}-r${round}`;
        return send(urlOf(id), key, body(b, round), stats).then((a) => answers.set(key, a));
      });
      // The labels of the previous round, each batch's to the next instance in the ring.
      if (round > 0) {
        for (let b = 0; b < PER_ROUND; b++) {
          const id = INSTANCES[(b + round) % INSTANCES.length]!;
          sends.push(send(urlOf(id), `l${b}-r${round - 1}`, labels(b, round - 1), stats, LABELS));
        }
      }
      if (round === KILL_ROUND) {
        // i-2 dies with its batch in flight, and comes back as itself.
        expect(targets).toContain('i-2');
        await sleep(5);
        killedWithRequestInFlight = true;
        await c.kill('i-2');
        [i2] = await c.start('i-2');
      }
      await Promise.all(sends);
    }
    await Promise.all(
      Array.from({ length: PER_ROUND }, (_, b) =>
        send(
          urlOf(INSTANCES[b % 3]!),
          `l${b}-r${ROUNDS - 1}`,
          labels(b, ROUNDS - 1),
          stats,
          LABELS,
        ),
      ),
    );
    await Promise.all(
      INSTANCES.map((id, i) => send(urlOf(id), `sentinel-${i}`, sentinel(i), stats)),
    );
    expect(killedWithRequestInFlight).toBe(true);

    const from = T0;
    const to = T0 + ROUNDS * ROUND_MS;
    const finalisations = await c.waitFinalised(MODEL, from, to, WINDOWS, 60_000);
    const performance = (run: 'cluster' | 'reference') =>
      c
        .store(run)
        .queryPerformance({ model: MODEL, from, to })
        .then((ps) => ps.filter((p) => p.start >= from && p.start < to));
    await waitUntil(
      'the performance of every window (cluster)',
      async () => (await performance('cluster')).length >= WINDOWS,
      30_000,
      250,
    );
    // Every instance's /metrics shows the latest results; i-1 and i-3 (never restarted) count
    // the windows they finalised.
    notes.push(
      ...(await c.observability(MODEL, from, to, finalisations, {
        shows: INSTANCES,
        counts: ['i-1', 'i-3'],
      })),
    );
    for (const id of INSTANCES) expect((await c.stop(id)).code).toBe(0);

    // The reference: the same requests, in the same rounds, into one ordinary daemon.
    const ref = await c.startReference();
    const refAnswers = new Map<string, string>();
    const none = { resent: 0 };
    for (let round = 0; round <= ROUNDS; round++) {
      await Promise.all([
        ...(round < ROUNDS
          ? Array.from({ length: PER_ROUND }, (_, b) =>
              send(() => ref.url, `b${b}-r${round}`, body(b, round), none).then((a) =>
                refAnswers.set(`b${b}-r${round}`, a),
              ),
            )
          : []),
        ...(round > 0
          ? Array.from({ length: PER_ROUND }, (_, b) =>
              send(() => ref.url, `l${b}-r${round - 1}`, labels(b, round - 1), none, LABELS),
            )
          : []),
      ]);
    }
    for (let i = 0; i < INSTANCES.length; i++) {
      await send(() => ref.url, `sentinel-${i}`, sentinel(i), { resent: 0 });
    }
    await waitUntil(
      'every window of the reference run, and its performance',
      async () =>
        (await c.results('reference', MODEL, from, to)).length >= WINDOWS &&
        (await performance('reference')).length >= WINDOWS,
      60_000,
      250,
    );
    expect((await ref.stop()).code).toBe(0);

    const got = sortResults(await c.results('cluster', MODEL, from, to));
    const want = sortResults(await c.results('reference', MODEL, from, to));

    // Sanity: the input exercises what it should.
    expect(want).toHaveLength(WINDOWS);
    expect(want.some((w) => w.datasetDrift || w.features.some((f) => f.drifted))).toBe(true);
    expect(want.some((w) => w.features.every((f) => !f.drifted))).toBe(true);

    // THE assertion: per window and size, every count, statistic, verdict and lineage field.
    expect(resultDifferences(got, want)).toEqual([]);
    expect(got.map(comparable)).toEqual(want.map(comparable));
    // The labels, sent to other instances than their predictions: the same performance.
    const perf = (ps: PerformanceResult[]) =>
      ps
        .map(({ computedAt: _c, writtenAt: _w, ...rest }) => rest)
        .sort((a, b) => a.sizeLabel.localeCompare(b.sizeLabel) || a.start - b.start);
    const perfWant = perf(await performance('reference'));
    expect(perfWant).toHaveLength(WINDOWS);
    expect(perfWant.every((p) => p.labeled > 0)).toBe(true);
    expect(perf(await performance('cluster'))).toEqual(perfWant);
    expect(got.filter((w) => w.sizeLabel === '1m').reduce((s, w) => s + w.eventCount, 0)).toBe(
      TOTAL - INSTANCES.length,
    );

    // Written once (one revision per window, reason close), finalised once, all three lanes.
    const revisions = (await c.revisions('cluster', MODEL)).filter(
      (r) => r.start >= from && r.start < to,
    );
    expect(revisions.filter((r) => r.n !== 1 || r.reason !== 'close')).toEqual([]);
    expect(revisions).toHaveLength(WINDOWS);
    const byKey = new Map<string, number>();
    for (const f of (await c.finalisations()).filter(
      (f) => f.model === MODEL && f.start >= from && f.start < to,
    )) {
      byKey.set(windowKeyString(f), (byKey.get(windowKeyString(f)) ?? 0) + 1);
    }
    expect([...byKey.values()].filter((k) => k !== 1)).toEqual([]);
    expect(byKey.size).toBe(WINDOWS);
    for (const f of finalisations) {
      expect([...f.lanes].sort()).toEqual(INSTANCES.map(httpLane));
    }

    // Every event stored once, each under its instance's lane; every answer the reference's.
    expect(await c.rawEvents('cluster', MODEL)).toEqual({ n: TOTAL, ids: TOTAL, late: 0 });
    expect(await c.rawEvents('reference', MODEL)).toEqual({ n: TOTAL, ids: TOTAL, late: 0 });
    expect(answers).toEqual(refAnswers);
    const lanes = await c.standIn.query<{ lane: string; n: string }>(
      `SELECT lane, count() AS n FROM driftd.events FINAL WHERE model = '${MODEL}' GROUP BY lane ORDER BY lane`,
    );
    if (lanes.map((l) => l.lane).join() !== INSTANCES.map(httpLane).join()) {
      notes.push(`events.lane holds ${JSON.stringify(lanes)}`);
    }

    // The kill cost something: the batch in flight was sent again; i-2's second life restored
    // its lane and replayed its stored events.
    expect(stats.resent).toBeGreaterThan(0);
    const replay = i2?.logs.find((e) => typeof e.replayed === 'number');
    console.info(
      `[cluster-http] ${WINDOWS} windows equal; resent ${stats.resent}; i-2 restart: ${JSON.stringify(replay ?? null)}; finalised by ${[...new Set(finalisations.map((f) => f.instance))].sort().join(', ')}`,
    );
    expect(notes).toEqual([]);
  }, 240_000);
});
