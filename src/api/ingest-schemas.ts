import {
  EARLIEST_STORABLE_TS,
  LATEST_STORABLE_TS,
  MAX_CATEGORY_LENGTH,
  MAX_ID_LENGTH,
  MAX_MODEL_LENGTH,
  MAX_VERSION_LENGTH,
  MIN_EPOCH_MS,
} from '../limits.js';

/*
 * The event contract (DESIGN.md) as OpenAPI components, for producers and generated clients.
 * Documentation only: the decoder (src/ingest/decode.ts) is the one validator of an item, and
 * it answers per item, so one bad item never refuses a batch (ingest.ts keeps the framework's
 * validator off these bodies). These schemas state the same limits (src/limits.ts) wherever a
 * schema can; what depends on the config (which models and features exist, the categorical
 * length limit, a renamed prediction or label field) is said in the descriptions. Fields not
 * listed are allowed (no `additionalProperties: false`), as the decoder allows them.
 */

/** `version` and `id`: text, or an integer a JSON reader keeps exactly. */
function textOrInteger(maxLength: number, description: string) {
  return {
    description: `${description}; text of at most ${maxLength} characters, or an integer of at most 2^53 - 1 (sent as text it is kept as sent)`,
    anyOf: [
      { type: 'string', minLength: 1, maxLength },
      {
        type: 'integer',
        minimum: -Number.MAX_SAFE_INTEGER,
        maximum: Number.MAX_SAFE_INTEGER,
      },
    ],
  } as const;
}

export const timestampSchema = {
  $id: 'Timestamp',
  description: `ISO 8601 with a zone (e.g. 2026-11-22T10:00:00.123Z) or epoch milliseconds, between ${new Date(EARLIEST_STORABLE_TS).toISOString()} and ${new Date(LATEST_STORABLE_TS).toISOString()}. Epoch seconds are refused (a number below ${MIN_EPOCH_MS}).`,
  anyOf: [
    { type: 'string', format: 'date-time', maxLength: 64 },
    { type: 'number', minimum: MIN_EPOCH_MS, maximum: LATEST_STORABLE_TS },
  ],
} as const;

export const featureValueSchema = {
  $id: 'FeatureValue',
  description: `A feature or prediction value: a finite number (numeric features), a string of at most ${MAX_CATEGORY_LENGTH} characters or a boolean (categorical), or null (missing)`,
  // Null on a typed member: OpenAPI 3.0 has no null type, and `nullable` beside `anyOf` alone
  // is ignored (3.0.3), so generated clients would type the value as any object.
  anyOf: [{ type: 'number', nullable: true }, { type: 'string' }, { type: 'boolean' }],
} as const;

export const predictionEventSchema = {
  $id: 'PredictionEvent',
  type: 'object',
  description:
    'One prediction of a deployed model. The prediction is read from `prediction`, or from the field models[].prediction.field names. Other top-level fields and features the config does not name are allowed and not monitored (dropped unless models[].storeUnlistedFields). An item breaking a rule is rejected alone, with its reason, in the answer.',
  required: ['model', 'version', 'id', 'ts', 'features'],
  properties: {
    model: {
      type: 'string',
      minLength: 1,
      maxLength: MAX_MODEL_LENGTH,
      description: 'A configured model id',
    },
    version: textOrInteger(
      MAX_VERSION_LENGTH,
      'Model version (models[].versions.allow may restrict it)',
    ),
    id: textOrInteger(MAX_ID_LENGTH, 'Prediction id, the key labels join on'),
    ts: { $ref: 'Timestamp#' },
    features: {
      type: 'object',
      description: 'Feature values by feature name',
      additionalProperties: { $ref: 'FeatureValue#' },
    },
    prediction: { $ref: 'FeatureValue#' },
  },
  examples: [
    {
      model: 'credit-risk',
      version: '3',
      id: 'p-123',
      ts: '2026-11-22T10:00:00.123Z',
      features: { income: 52000, region: 'EU' },
      prediction: 0.83,
    },
  ],
} as const;

export const labelEventSchema = {
  $id: 'LabelEvent',
  type: 'object',
  description:
    "The ground truth of one prediction, joined by `model` and `id`; it may arrive minutes to days later. The label is read from `label`, or from the field models[].label.field names. Performance is computed for the prediction's window.",
  required: ['model', 'id', 'label'],
  properties: {
    model: {
      type: 'string',
      minLength: 1,
      maxLength: MAX_MODEL_LENGTH,
      description: 'A configured model id',
    },
    id: textOrInteger(MAX_ID_LENGTH, 'Id of the prediction this label is for'),
    ts: {
      $ref: 'Timestamp#',
      description: 'When the label became known; default: when driftd received it',
    },
    label: {
      description: `A finite number, a string of at most ${MAX_CATEGORY_LENGTH} characters, or a boolean (stored as 1 or 0)`,
      type: ['number', 'string', 'boolean'],
    },
  },
  examples: [{ model: 'credit-risk', id: 'p-123', ts: '2026-11-23T08:00:00Z', label: 1 }],
} as const;
