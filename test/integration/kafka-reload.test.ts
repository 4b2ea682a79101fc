/**
 * Config reloads while Kafka delivers (real broker, real embedded ClickHouse): every event is
 * counted once into the window open across the reloads, which is evaluated with the config in
 * force when it closes; models added and removed and features added reach the Kafka decode
 * thread between batches, so nothing is lost or counted twice.
 */
import type { Producer } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProfileFromRows } from '../../src/baseline/index.js';
import type { DriftdConfig, ModelConfig } from '../../src/config/types.js';
import type { Daemon } from '../../src/daemon.js';
import { StoreError } from '../../src/errors.js';
import { KafkaSourceError } from '../../src/ingest/kafka/index.js';
import type { Store } from '../../src/store/types.js';
import { requireKafkaOrSkip, testKafka } from '../helpers/kafka.js';
import {
  event,
  type KafkaDaemonSetup,
  MINUTE,
  MODEL,
  metricValue,
  normals,
  openStore,
  setupKafkaDaemon,
  startKafkaDaemon,
  T0,
  waitFor,
} from '../helpers/kafka-daemon.js';

const { available } = await requireKafkaOrSkip();

/** An event of `model` (credit-risk's features, and `tenure`). */
function eventOf(model: string, id: string, ts: number, z: () => number) {
  const e = event(id, ts, z);
  return { ...e, model, features: { ...e.features, tenure: 5 + 2 * z() } };
}

/** credit-risk with `tenure` added, and `fraud` (income and age): the models a reload adds. */
function addedModels(config: DriftdConfig): { withTenure: ModelConfig; fraud: ModelConfig } {
  const cr = config.models[0]!;
  return {
    withTenure: { ...cr, features: [...cr.features, { ...cr.features[0]!, name: 'tenure' }] },
    fraud: { ...cr, id: 'fraud', features: cr.features.slice(0, 2) },
  };
}

/** Saves a baseline of `model` version 3 (from eventOf rows); returns its id. */
async function saveBaseline(store: Store, model: ModelConfig): Promise<string> {
  const z = normals(2);
  const rows = Array.from({ length: 2000 }, (_, i) =>
    eventOf(model.id, `b-${i}`, T0 - 60 * MINUTE, z),
  );
  const { profile } = buildProfileFromRows(model, '3', rows);
  await store.saveBaseline(profile);
  return profile.id;
}

/** Sends `perPartition` events of `model` to each partition (all 3 by default), from `ts` on. */
function sendEvents(
  producer: Producer,
  topic: string,
  model: string,
  prefix: string,
  perPartition: number,
  ts: number,
  z: () => number,
  partitions = [0, 1, 2],
) {
  return producer.send({
    topic,
    acks: -1,
    messages: partitions.flatMap((partition) =>
      Array.from({ length: perPartition }, (_, i) => ({
        partition,
        value: JSON.stringify(eventOf(model, `${prefix}-p${partition}-${i}`, ts + i * 10, z)),
      })),
    ),
  });
}

/** driftd_events_total of `model`, every result (each event lands in exactly one). */
async function eventsOf(d: Daemon, model: string): Promise<number> {
  return metricValue(d, 'driftd_events_total', { model });
}

/** The model's closed 1m window starting at `start`, once written. */
function windowAt(store: Store, model: string, start: number) {
  return waitFor(`the ${model} window at ${start}`, async () => {
    const ws = await store.queryDrift({ model, window: '1m', from: start, to: start + 1 });
    return ws.filter((w) => !w.provisional).length === 1 ? ws[0] : undefined;
  });
}

/** `config` with the model's drift.fdr set to `fdr`. */
function withFdr(config: DriftdConfig, fdr: number): DriftdConfig {
  const [m] = config.models;
  return { ...config, models: [{ ...m!, drift: { ...m!.drift, fdr } }] };
}

describe.skipIf(!available)(
  'config reload with Kafka (real broker, real embedded ClickHouse)',
  () => {
    const kafka = testKafka('driftd-test-kafka-reload');
    const setups: KafkaDaemonSetup[] = [];
    afterAll(async () => {
      await Promise.all(setups.map((s) => s.cleanup()));
    });

    it('events consumed during concurrent reloads are all counted, once, and the window is evaluated with the last config', async () => {
      const s = await setupKafkaDaemon('reload');
      setups.push(s);
      const store = await openStore(s.config);
      let next: DriftdConfig = s.config;
      const d = await startKafkaDaemon(s.config, store, { loadConfig: async () => next });
      const producer = kafka.producer();
      await producer.connect();
      try {
        const z = normals(11);
        const fdrs = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08];
        const reloads: Array<Promise<unknown>> = [];
        for (let round = 0; round < fdrs.length; round++) {
          await producer.send({
            topic: s.predictions,
            acks: -1,
            messages: [0, 1, 2].flatMap((partition) =>
              Array.from({ length: 25 }, (_, i) => ({
                partition,
                value: JSON.stringify(
                  event(`r${round}-p${partition}-${i}`, T0 + round * 5_000 + i * 10, z),
                ),
              })),
            ),
          });
          next = withFdr(s.config, fdrs[round]!);
          reloads.push(d.reload(), d.reload());
          await new Promise((r) => setTimeout(r, 30 + 20 * (round % 3)));
        }
        const reports = await Promise.all(reloads);
        expect(reports).toHaveLength(2 * fdrs.length);
        expect(d.config.models[0]!.drift.fdr).toBe(0.08);

        await producer.send({
          topic: s.predictions,
          acks: -1,
          messages: [0, 1, 2].map((partition) => ({
            partition,
            value: JSON.stringify(event(`sentinel-${partition}`, T0 + 60 * MINUTE, z)),
          })),
        });
        const [w] = await waitFor('the closed window', async () => {
          const ws = await store.queryDrift({ model: MODEL, window: '1m', from: T0, to: T0 + 1 });
          return ws.length === 1 ? ws : undefined;
        });
        const sent = fdrs.length * 3 * 25;
        expect(w!.eventCount).toBe(sent);
        expect(w!.features[0]!.verdictRule).toBe('calibrated');
        expect(w!.features[0]!.threshold).toBe(0.08);
        expect(await metricValue(d, 'driftd_events_total', { result: 'accepted' })).toBe(sent + 3);
        expect(await metricValue(d, 'driftd_config_reloads_total', { result: 'success' })).toBe(
          2 * fdrs.length,
        );
        expect(await metricValue(d, 'driftd_config_reloads_total', { result: 'failure' })).toBe(0);
      } finally {
        await producer.disconnect();
        await d.close();
      }
    }, 60_000);

    it('a model and a feature added while events flow: every event counted once, the new model monitored from its first event after the swap', async () => {
      const s = await setupKafkaDaemon('reload-add');
      setups.push(s);
      const store = await openStore(s.config);
      const { withTenure, fraud } = addedModels(s.config);
      await saveBaseline(store, withTenure);
      const fraudBaseline = await saveBaseline(store, fraud);
      // The reload's load of the added model's baseline (under the Kafka source's lock, before
      // the swap) waits for `release`: batches fetched meanwhile were sent to the decode
      // thread with the old model list, and are processed after the swap.
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      let reached!: () => void;
      const inReload = new Promise<void>((r) => {
        reached = r;
      });
      const getBaseline = store.getBaseline.bind(store);
      store.getBaseline = async (id) => {
        if (id === fraudBaseline) {
          reached();
          await held;
        }
        return getBaseline(id);
      };
      let next: DriftdConfig = s.config;
      const d = await startKafkaDaemon(s.config, store, { loadConfig: async () => next });
      const producer = kafka.producer();
      await producer.connect();
      try {
        const z = normals(12);
        const W1 = T0;
        const W2 = T0 + MINUTE;
        // credit-risk's first window: 8 rounds of 3 × 25, the reload starting after the 4th.
        let crW1 = 0;
        for (let round = 0; round < 4; round++) {
          await sendEvents(producer, s.predictions, MODEL, `a${round}`, 25, W1 + round * 5_000, z);
          crW1 += 75;
          await new Promise((r) => setTimeout(r, 30));
        }
        next = { ...s.config, models: [withTenure, fraud] };
        const reloading = d.reload();
        // (A refused reload never gets there: it rejects here.)
        await Promise.race([inReload, reloading]);
        // The new model's events, on partition 0 only for now.
        let fraudSent = 0;
        for (let round = 4; round < 8; round++) {
          await Promise.all([
            sendEvents(
              producer,
              s.predictions,
              'fraud',
              `f${round}`,
              30,
              W1 + round * 5_000,
              z,
              [0],
            ),
            sendEvents(producer, s.predictions, MODEL, `a${round}`, 25, W1 + round * 5_000, z),
          ]);
          fraudSent += 30;
          crW1 += 75;
        }
        // Fetched and queued behind the reload (decoded by the thread with the old models).
        await new Promise((r) => setTimeout(r, 1_000));
        release();
        const report = await reloading;
        expect(report.added).toEqual(['fraud']);
        expect(report.changed).toContain(`models["${MODEL}"].features[3]`);

        // After the swap: credit-risk's next window; the new model's partition 0 runs ahead,
        // past W1, while partitions 1 and 2 have not delivered to it yet: they are its lanes
        // too (announced at the reload), so W1 stays open for their events.
        await sendEvents(producer, s.predictions, MODEL, 'b', 30, W2, z);
        const crW2 = 90;
        const ahead = T0 + 60 * MINUTE;
        await sendEvents(producer, s.predictions, 'fraud', 'sentinel', 1, ahead, z, [0]);
        await waitFor('partition 0 ahead', async () =>
          (await eventsOf(d, 'fraud')) === fraudSent + 1 ? true : undefined,
        );
        await sendEvents(producer, s.predictions, 'fraud', 'g', 10, W1 + 45_000, z, [1, 2]);
        fraudSent += 20;
        await sendEvents(producer, s.predictions, MODEL, 'sentinel', 1, ahead, z);
        await sendEvents(producer, s.predictions, 'fraud', 'sentinel', 1, ahead, z, [1, 2]);

        // The new model: every event, from the first one processed after the swap.
        const f = await windowAt(store, 'fraud', W1);
        expect(f!.eventCount).toBe(fraudSent);
        expect(await metricValue(d, 'driftd_dead_letter_total')).toBe(0);
        expect(await metricValue(d, 'driftd_events_total', { model: 'unknown' })).toBe(0);
        // credit-risk's first window was closed at the reload (its sketches have no room for
        // tenure); the rest of its events are late, counted once.
        const w1 = await windowAt(store, MODEL, W1);
        const late = await metricValue(d, 'driftd_events_total', { model: MODEL, result: 'late' });
        expect(w1!.eventCount + late).toBe(crW1);
        expect(w1!.features.map((x) => x.feature).sort()).toEqual(['age', 'income', 'region']);
        // The next window has tenure, from every event (decoded with the new features).
        const w2 = await windowAt(store, MODEL, W2);
        expect(w2!.eventCount).toBe(crW2);
        const tenure = w2!.features.find((x) => x.feature === 'tenure');
        expect(tenure?.count).toBe(crW2);
        expect(tenure?.missingRatio).toBe(0);
        await waitFor('every event counted', async () =>
          (await eventsOf(d, MODEL)) === crW1 + crW2 + 3 &&
          (await eventsOf(d, 'fraud')) === fraudSent + 3
            ? true
            : undefined,
        );
      } finally {
        release();
        await producer.disconnect();
        await d.close();
      }
    }, 60_000);

    it('a model removed while events flow: its open window is written with every event, its later events are dead-lettered', async () => {
      const s = await setupKafkaDaemon('reload-remove');
      setups.push(s);
      const store = await openStore(s.config);
      const { fraud } = addedModels(s.config);
      await saveBaseline(store, fraud);
      const both: DriftdConfig = { ...s.config, models: [s.config.models[0]!, fraud] };
      let next: DriftdConfig = both;
      const d = await startKafkaDaemon(both, store, { loadConfig: async () => next });
      const producer = kafka.producer();
      await producer.connect();
      try {
        const z = normals(13);
        await sendEvents(producer, s.predictions, 'fraud', 'f', 20, T0, z);
        await sendEvents(producer, s.predictions, MODEL, 'a0', 20, T0, z);
        await waitFor('the fraud events processed', async () =>
          (await eventsOf(d, 'fraud')) === 60 ? true : undefined,
        );
        // The reload while credit-risk events flow.
        next = s.config;
        const sending = (async () => {
          for (let round = 1; round < 6; round++) {
            await sendEvents(
              producer,
              s.predictions,
              MODEL,
              `a${round}`,
              20,
              T0 + round * 5_000,
              z,
            );
            await new Promise((r) => setTimeout(r, 20));
          }
        })();
        await new Promise((r) => setTimeout(r, 40));
        const report = await d.reload().finally(() => sending);
        expect(report.removed).toEqual(['fraud']);
        const f = await windowAt(store, 'fraud', T0);
        expect(f!.eventCount).toBe(60);

        // Its events fetched after the swap: unknown model, dead-lettered.
        await sendEvents(producer, s.predictions, 'fraud', 'after', 5, T0 + 40_000, z);
        await waitFor("the removed model's events dead-lettered", async () =>
          (await metricValue(d, 'driftd_dead_letter_total', { reason: 'unknown_model' })) === 15
            ? true
            : undefined,
        );
        // credit-risk's window, open across the reload, kept every event.
        await sendEvents(producer, s.predictions, MODEL, 'sentinel', 1, T0 + 60 * MINUTE, z);
        const w = await windowAt(store, MODEL, T0);
        expect(w!.eventCount).toBe(6 * 60);
        expect(await metricValue(d, 'driftd_events_total', { model: MODEL, result: 'late' })).toBe(
          0,
        );
      } finally {
        await producer.disconnect();
        await d.close();
      }
    }, 60_000);

    it('a reload while a store outage holds the consumer is refused, retriable, and changes nothing; once the store is back it applies (outage simulated by a failing store wrapper)', async () => {
      const s = await setupKafkaDaemon('reload-outage');
      setups.push(s);
      const real = await openStore(s.config);
      const { fraud } = addedModels(s.config);
      await saveBaseline(real, fraud);
      let outage = false;
      let failures = 0;
      const fail = (op: string): never => {
        failures++;
        throw new StoreError(`simulated outage (${op})`, { retriable: true, clickhouseCode: 210 });
      };
      const store: Store = {
        ...real,
        kind: real.kind,
        insertEncodedEvents: (b) =>
          outage ? fail('insertEncodedEvents') : real.insertEncodedEvents(b),
        insertWindowResults: (r) =>
          outage ? fail('insertWindowResults') : real.insertWindowResults(r),
        saveCheckpoint: (c) => (outage ? fail('saveCheckpoint') : real.saveCheckpoint(c)),
      };
      let next: DriftdConfig = s.config;
      const d = await startKafkaDaemon(s.config, store, {
        loadConfig: async () => next,
        kafka: { reloadWaitMs: 800 },
      });
      const producer = kafka.producer();
      await producer.connect();
      try {
        const z = normals(14);
        outage = true;
        await sendEvents(producer, s.predictions, MODEL, 'a', 20, T0, z);
        await waitFor('failing writes', () => (failures >= 3 ? true : undefined));
        next = { ...s.config, models: [...s.config.models, fraud] };
        const started = Date.now();
        const refused = await d.reload().catch((err: unknown) => err);
        expect(refused).toBeInstanceOf(KafkaSourceError);
        expect((refused as KafkaSourceError).retriable).toBe(true);
        expect(Date.now() - started).toBeLessThan(5_000);
        // Through the route: 503, a stable code, a reason to retry.
        const res = await d.app!.inject({ method: 'POST', url: '/api/v1/admin/reload' });
        expect(res.statusCode).toBe(503);
        expect(res.json()).toMatchObject({ code: 'DRIFTD_ERR_KAFKA_BUSY' });
        expect(res.json().message).toMatch(/retry later/);
        expect(res.headers['retry-after']).toBeDefined();
        expect(d.config.models.map((m) => m.id)).toEqual([MODEL]);
        expect(await metricValue(d, 'driftd_config_reloads_total', { result: 'failure' })).toBe(2);

        outage = false;
        const report = await d.reload();
        expect(report.added).toEqual(['fraud']);
        await sendEvents(producer, s.predictions, 'fraud', 'f', 5, T0 + 1_000, z);
        await sendEvents(producer, s.predictions, MODEL, 'sentinel', 1, T0 + 60 * MINUTE, z);
        await sendEvents(producer, s.predictions, 'fraud', 'sentinel', 1, T0 + 60 * MINUTE, z);
        const w = await windowAt(real, MODEL, T0);
        expect(w!.eventCount).toBe(60);
        const f = await windowAt(real, 'fraud', T0);
        expect(f!.eventCount).toBe(15);
        expect(await metricValue(d, 'driftd_dead_letter_total')).toBe(0);
      } finally {
        outage = false;
        await producer.disconnect();
        await d.close();
      }
    }, 60_000);
  },
);
