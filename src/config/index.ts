/**
 * driftd config: one YAML file, validated once at boot (every problem reported with its path),
 * env overrides for secrets and deployment settings, then frozen. See README.md here.
 */

export type { DurationCheck, DurationOptions } from './duration.js';
export { checkDuration, formatDuration, parseDuration } from './duration.js';
export type { ConfigEnv, ConfigIssue, LoadConfigOptions, ParseConfigOptions } from './load.js';
export {
  CONFIG_ENV_VARS,
  DEFAULT_CONFIG_PATH,
  describeConfigIssues,
  InvalidConfigError,
  loadConfig,
  parseConfig,
  REDACTED,
  redactConfig,
  resolveConfigPath,
  validateConfig,
} from './load.js';
export type {
  ConfigOverrides,
  DriftdConfigInput,
  FeatureInput,
  KafkaInput,
  KafkaSaslInput,
  KafkaTlsInput,
  LogLevel,
  ModelInput,
  PrivacyInput,
  ServerInput,
  StoreInput,
} from './schema.js';
export {
  FEATURE_TYPES,
  KAFKA_MESSAGE_KEYS,
  KAFKA_SASL_MECHANISMS,
  LOG_LEVELS,
  MODEL_TASKS,
} from './schema.js';
export type * from './types.js';
