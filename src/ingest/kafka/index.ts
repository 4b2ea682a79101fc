/** The Kafka source (see source.ts): the exports the rest of driftd uses. */

export { MAX_BATCH_ATTEMPTS } from './batch-loop.js';
export { DEAD_LETTER_HEADERS, type KafkaRejectReason } from './dead-letters.js';
export { keyTexts, MODEL_HEADER, VERSION_HEADER } from './messages.js';
export {
  type KafkaClusterOptions,
  type KafkaPipeline,
  type KafkaSource,
  KafkaSourceError,
  type KafkaSourceOptions,
  type KafkaSourceState,
  type KafkaTuning,
  kafkaTuningFromEnv,
} from './options.js';
export { createKafkaSource } from './source.js';
