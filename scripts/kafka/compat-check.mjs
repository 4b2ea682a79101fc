// KafkaJS <-> broker compatibility check. Exercises every KafkaJS API driftd relies on (and a
// few more) against a running broker and prints one line per API: OK or FAIL with the error.
//
//   node scripts/kafka/compat-check.mjs [brokers]      (default 127.0.0.1:19092)
//
// Exit code 0 when every check passed, 1 otherwise. Creates topics/groups with a random
// suffix and deletes its topics at the end. Used to pick the pinned version in
// scripts/kafka/README.md.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';

const { Kafka, logLevel, CompressionTypes } = kafkajs;
const kafkajsVersion = createRequire(import.meta.url)('kafkajs/package.json').version;
const brokers = (
  process.argv[2] ??
  process.env.DRIFTD_TEST_KAFKA_BROKERS ??
  '127.0.0.1:19092'
).split(',');
const suffix = randomBytes(4).toString('hex');
const topic = `compat-${suffix}`;
const txTopic = `compat-tx-${suffix}`;
const groupId = `compat-group-${suffix}`;
const N = 300;

const kafka = new Kafka({
  clientId: 'driftd-compat-check',
  brokers,
  logLevel: logLevel.NOTHING,
  connectionTimeout: 3000,
  requestTimeout: 15000,
  retry: { retries: 2 },
});
const admin = kafka.admin();
const results = [];

async function check(name, fn) {
  const t0 = Date.now();
  try {
    const detail = await fn();
    results.push({ name, ok: true });
    console.log(`OK    ${name}${detail ? ` -- ${detail}` : ''} (${Date.now() - t0} ms)`);
  } catch (err) {
    results.push({ name, ok: false, err });
    const e = /** @type {any} */ (err);
    const cause = e?.cause ? ` cause=${e.cause.name}: ${e.cause.message}` : '';
    console.log(
      `FAIL  ${name} -- ${e?.name}: ${e?.message}${e?.type ? ` [${e.type}]` : ''}${cause}`,
    );
  }
}

const withTimeout = (p, ms, what) =>
  Promise.race([
    p,
    new Promise((_, rej) =>
      setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms),
    ),
  ]);

await check('admin.connect', () => admin.connect());
await check('admin.describeCluster', async () => {
  const c = await admin.describeCluster();
  return `clusterId=${c.clusterId} brokers=${c.brokers.length}`;
});
await check('admin.createTopics (3 partitions)', async () => {
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions: 3 }],
    waitForLeaders: true,
  });
  if (!created) throw new Error('createTopics returned false');
});
await check('admin.listTopics', async () => {
  const ts = await admin.listTopics();
  if (!ts.includes(topic)) throw new Error('new topic not listed');
});
await check('admin.fetchTopicMetadata', async () => {
  const md = await admin.fetchTopicMetadata({ topics: [topic] });
  return `partitions=${md.topics[0]?.partitions.length}`;
});
await check('admin.describeConfigs', async () => {
  const r = await admin.describeConfigs({
    resources: [{ type: 2 /* TOPIC */, name: topic }],
    includeSynonyms: false,
  });
  return `entries=${r.resources[0]?.configEntries.length}`;
});
await check('admin.alterConfigs', () =>
  admin.alterConfigs({
    validateOnly: false,
    resources: [
      { type: 2, name: topic, configEntries: [{ name: 'retention.ms', value: '3600000' }] },
    ],
  }),
);

const producer = kafka.producer();
await check('producer.connect', () => producer.connect());
await check(`producer.send (${N} keyed messages)`, async () => {
  const messages = Array.from({ length: N }, (_, i) => ({ key: `k${i % 17}`, value: `v${i}` }));
  const r = await producer.send({ topic, messages, acks: -1 });
  return `partitions written=${r.length}`;
});
await check('producer.sendBatch (gzip)', async () => {
  await producer.sendBatch({
    compression: CompressionTypes.GZIP,
    topicMessages: [{ topic, messages: [{ key: 'gz', value: 'gzipped' }] }],
  });
});
await check('admin.fetchTopicOffsets', async () => {
  const offs = await admin.fetchTopicOffsets(topic);
  const total = offs.reduce((s, p) => s + Number(p.high) - Number(p.low), 0);
  if (total !== N + 1) throw new Error(`expected ${N + 1} messages, high-low sums to ${total}`);
  return `sum(high-low)=${total}`;
});
await check('admin.fetchTopicOffsetsByTimestamp', async () => {
  const offs = await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() - 60_000);
  return `partitions=${offs.length}`;
});

const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000 });
let consumed = 0;
await check('consumer.connect + subscribe', async () => {
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
});
await check('consumer group join + fetch (eachMessage) + auto commit', async () => {
  let resolveAll;
  const all = new Promise((r) => (resolveAll = r));
  await consumer.run({
    autoCommit: true,
    eachMessage: async () => {
      consumed += 1;
      if (consumed === N + 1) resolveAll();
    },
  });
  await withTimeout(all, 30000, `consume ${N + 1} messages (got ${consumed})`);
  return `consumed=${consumed}`;
});
await check('consumer.commitOffsets (explicit)', async () => {
  const offs = await admin.fetchTopicOffsets(topic);
  await consumer.commitOffsets(
    offs.map((p) => ({ topic, partition: p.partition, offset: p.high })),
  );
});
await check('admin.describeGroups', async () => {
  const { groups } = await admin.describeGroups([groupId]);
  const g = groups[0];
  return `state=${g?.state} protocolType=${g?.protocolType} members=${g?.members.length}`;
});
await check('admin.listGroups', async () => {
  const { groups } = await admin.listGroups();
  if (!groups.some((g) => g.groupId === groupId)) throw new Error('group not listed');
});
await check('consumer.disconnect', () => consumer.disconnect());
await check('admin.fetchOffsets (committed)', async () => {
  const r = await admin.fetchOffsets({ groupId, topics: [topic] });
  const sum = r[0].partitions.reduce((s, p) => s + Number(p.offset), 0);
  if (sum !== N + 1) throw new Error(`committed offsets sum to ${sum}, expected ${N + 1}`);
  return `sum=${sum}`;
});
await check('admin.resetOffsets (earliest)', () =>
  admin.resetOffsets({ groupId, topic, earliest: true }),
);
await check('admin.setOffsets', () =>
  admin.setOffsets({
    groupId,
    topic,
    partitions: [0, 1, 2].map((partition) => ({ partition, offset: '1' })),
  }),
);
await check('admin.createPartitions (3 -> 4)', () =>
  admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] }),
);
await check('admin.deleteGroups', () => admin.deleteGroups([groupId]));

await check('idempotent producer + transaction (EOS)', async () => {
  await admin.createTopics({
    topics: [{ topic: txTopic, numPartitions: 1 }],
    waitForLeaders: true,
  });
  const tp = kafka.producer({
    transactionalId: `compat-tx-${suffix}`,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await tp.connect();
  try {
    const tx = await tp.transaction();
    await tx.send({ topic: txTopic, messages: [{ key: 'a', value: '1' }] });
    await tx.commit();
  } finally {
    await tp.disconnect();
  }
});
await check('producer.disconnect', () => producer.disconnect());
await check('admin.deleteTopics', () => admin.deleteTopics({ topics: [topic, txTopic] }));
await admin.disconnect().catch(() => {});

const failed = results.filter((r) => !r.ok);
console.log(
  `\nkafkajs ${kafkajsVersion} against ${brokers.join(',')}: ${results.length - failed.length}/${results.length} OK`,
);
process.exit(failed.length ? 1 : 0);
