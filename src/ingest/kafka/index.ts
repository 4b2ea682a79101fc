/** The Kafka source (see source.ts): the exports the rest of driftd uses. */
export {
  createKafkaSource,
  DEAD_LETTER_HEADERS,
  type KafkaPipeline,
  type KafkaRejectReason,
  type KafkaSource,
  KafkaSourceError,
  type KafkaSourceOptions,
  type KafkaSourceState,
  type KafkaTuning,
  kafkaTuningFromEnv,
  keyTexts,
  MAX_BATCH_ATTEMPTS,
  MODEL_HEADER,
  VERSION_HEADER,
} from './source.js';
