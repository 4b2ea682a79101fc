/**
 * Config reloads while Kafka delivers (real broker, real embedded ClickHouse): every event is
 * counted once into the window open across the reloads, which is evaluated with the config in
 * force when it closes; a change the Kafka decoder would have to see is refused and changes
 * nothing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { DriftdConfig } from '../../src/config/types.js';
import { ConfigReloadRefusedError } from '../../src/reload.js';
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

        // A model added: the decode thread would not know it. Refused, nothing changes.
        next = {
          ...withFdr(s.config, 0.5),
          models: [...s.config.models, { ...s.config.models[0]!, id: 'other' }],
        };
        const refused = await d.reload().catch((err: unknown) => err);
        expect(refused).toBeInstanceOf(ConfigReloadRefusedError);
        expect((refused as ConfigReloadRefusedError).issues).toEqual(['models: "other" added']);
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
        expect(await metricValue(d, 'driftd_config_reloads_total', { result: 'failure' })).toBe(1);
      } finally {
        await producer.disconnect();
        await d.close();
      }
    }, 60_000);
  },
);
