import type { FastifyInstance } from 'fastify';
import {
  featureValueSchema,
  labelEventSchema,
  predictionEventSchema,
  timestampSchema,
} from './ingest-schemas.js';

/**
 * JSON schemas shared by routes. Each has an `$id`: it is registered once (addComponentSchemas),
 * routes point at it with `ref()`, and the OpenAPI document lists it under that name in
 * components.schemas, so generated clients get one named type per shape.
 */

/** A reference to a shared schema, by its `$id`. */
export function ref(schema: { readonly $id: string }) {
  return { $ref: `${schema.$id}#` } as const;
}

/** Every error answer (see errors.ts); documented on every route as its 4xx and 5xx. */
export const errorSchema = {
  $id: 'Error',
  type: 'object',
  description: 'What went wrong',
  properties: {
    statusCode: { type: 'integer' },
    code: {
      type: 'string',
      description: 'Stable machine-readable code, e.g. DRIFTD_ERR_INVALID_JSON',
    },
    error: { type: 'string' },
    message: { type: 'string', description: 'What is wrong (4xx); a generic reason (5xx)' },
    requestId: { type: 'string', description: '5xx only: the id the daemon log carries' },
  },
  required: ['statusCode', 'code', 'error', 'message'],
} as const;

export const itemErrorSchema = {
  $id: 'ItemError',
  type: 'object',
  description: 'One rejected item of an ingestion batch',
  properties: {
    index: { type: 'integer', description: 'Zero-based position of the item in the batch' },
    reason: {
      type: 'string',
      description:
        'Stable machine-readable reason, e.g. missing_field, bad_timestamp, unknown_model',
    },
    message: { type: 'string', description: 'What is wrong with the item' },
  },
  required: ['index', 'reason', 'message'],
} as const;

export const ingestReportSchema = {
  $id: 'IngestReport',
  type: 'object',
  description:
    'Items accepted and rejected; 202 when any was accepted, 400 when every item was rejected',
  properties: {
    accepted: { type: 'integer' },
    rejected: { type: 'integer' },
    errors: {
      type: 'array',
      description: 'The rejected items (the first 1000; `rejected` counts them all)',
      items: ref(itemErrorSchema),
    },
  },
  required: ['accepted', 'rejected', 'errors'],
} as const;

const nullableNumber = { type: ['number', 'null'] } as const;

export const featureDriftSchema = {
  $id: 'FeatureDrift',
  type: 'object',
  description: 'The verdict on one feature (or the prediction) in one window',
  properties: {
    feature: { type: 'string' },
    type: { type: 'string', enum: ['numeric', 'categorical'] },
    test: { type: 'string' },
    statistic: { type: 'number' },
    pValue: nullableNumber,
    adjustedPValue: nullableNumber,
    threshold: {
      type: 'number',
      description:
        'calibrated: the level the adjusted p-value is compared with (alpha); threshold: the fixed threshold',
    },
    verdictRule: { type: 'string', enum: ['calibrated', 'threshold'] },
    effect: {
      type: 'number',
      description:
        'Effect measure: the distance (PSI, Jensen-Shannon, normed Wasserstein), KS D, or Cohen w for chi-square',
    },
    effectFloor: nullableNumber,
    drifted: { type: 'boolean' },
    psi: { type: 'number' },
    ksStatistic: nullableNumber,
    ksBound: {
      ...nullableNumber,
      description: 'ksStatistic ≤ exact KS on the raw values ≤ ksStatistic + ksBound',
    },
    statisticBound: {
      ...nullableNumber,
      description:
        'Error bound of statistic against its exact value on the raw values (KS: exact in [statistic, statistic + bound]; Wasserstein: |statistic − exact| ≤ bound). Null for tests defined on the bins (PSI, chi-square, Jensen-Shannon), which are exact.',
    },
    boundStraddlesThreshold: {
      type: 'boolean',
      description:
        "The exact statistic could give the other verdict: the feature's rule (calibrated: adjusted p-value and effect floor; fixed: threshold) differs at the two ends of the interval the bound gives.",
    },
    ksPValue: nullableNumber,
    count: { type: 'integer' },
    missingRatio: { type: 'number' },
    outOfRangeRatio: { type: 'number' },
    unseenRatio: {
      type: 'number',
      description:
        'Share of non-missing values never seen in the baseline (exact while the baseline had ≤ 10 000 distinct values, an upper bound beyond)',
    },
    otherRatio: {
      type: 'number',
      description: "Share of non-missing values outside the baseline's top-N categories",
    },
    insufficient: { type: 'boolean' },
    insufficientReason: {
      type: 'string',
      enum: ['window', 'reference'],
      description:
        'Why there is no verdict: too few values in the window, or in its window reference (models[].reference); absent when there is one',
    },
  },
} as const;

const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;

export const referenceSchema = {
  $id: 'Reference',
  type: 'object',
  description:
    'What the window was compared with (models[].reference): its training baseline, the previous window, or the sum of the N windows before it',
  properties: {
    kind: { type: 'string', enum: ['baseline', 'previous', 'rolling'] },
    name: { type: 'string', description: 'baseline, previous or rolling:N (the stored name)' },
    windows: { type: 'integer', description: 'Windows asked for (0 for the baseline)' },
    found: { type: 'integer', description: 'Windows found and summed' },
    start: { ...nullableTime, description: 'Start of the oldest window summed' },
    end: { ...nullableTime, description: 'End of the newest window summed' },
    eventCount: {
      type: ['integer', 'null'],
      description: "Events in the reference (the baseline's rows for the baseline)",
    },
    note: {
      type: ['string', 'null'],
      description: 'Why the reference is short of what was asked for, or missing',
    },
  },
} as const;

/** Lineage of a stored result (null: written before driftd recorded it, migration 12). */
const lineageFields = {
  driftdVersion: {
    type: ['string', 'null'],
    description: 'The driftd version that wrote this result',
  },
  configHash: {
    type: ['string', 'null'],
    description:
      "sha256 of the model's effective configuration the result was evaluated with (canonical JSON)",
  },
  revisionReason: {
    type: ['string', 'null'],
    description:
      'Why this revision was written: close, provisional, flush, late_labels, replay, recompute, restart, lane_late (cluster mode: a lane counted events after the window was finalised), or migrated (written before revisions were recorded)',
  },
} as const;

const windowFields = {
  model: { type: 'string' },
  version: { type: 'string' },
  window: { type: 'string', description: 'Window size label from the config, e.g. 5m' },
  start: { type: 'string', format: 'date-time' },
  end: { type: 'string', format: 'date-time' },
} as const;

export const windowResultSchema = {
  $id: 'WindowResult',
  type: 'object',
  description: 'The drift result of one closed window of one model version',
  properties: {
    ...windowFields,
    baselineId: { type: 'string' },
    baselineHash: { type: 'string' },
    eventCount: { type: 'integer' },
    lateCount: { type: 'integer' },
    closedAt: { type: 'string', format: 'date-time' },
    driftShare: { type: 'number' },
    datasetDrift: { type: 'boolean' },
    segment: {
      type: 'string',
      description:
        'The segment ("<field>=<value>", models[].segments) this result is of; empty for the whole traffic.',
    },
    reference: ref(referenceSchema),
    provisional: {
      type: 'boolean',
      description:
        'The window is still open (its stream went quiet): its final result replaces this one.',
    },
    prediction: { anyOf: [ref(featureDriftSchema), { type: 'null' }] },
    features: { type: 'array', items: ref(featureDriftSchema) },
    ...lineageFields,
  },
} as const;

export const performanceSchema = {
  $id: 'Performance',
  type: 'object',
  description: 'Performance metrics of one window, recomputed as labels arrive',
  properties: {
    ...windowFields,
    segment: {
      type: 'string',
      description:
        'The segment ("<field>=<value>", models[].segments) this performance is of; empty for the whole traffic.',
    },
    labeled: { type: 'integer' },
    coverage: { type: 'number' },
    metrics: { type: 'object', additionalProperties: { type: 'number' } },
    verdicts: {
      type: 'array',
      description:
        "The daemon's verdict per metric with a threshold in alerts.performance (the one driftd_model_performance_degraded exports): `limit` is the line (fixed, or the baseline's value minus / plus dropFromBaseline), `degraded` null when there is no verdict, `reason` says why.",
      items: {
        type: 'object',
        properties: {
          metric: { type: 'string' },
          value: { type: ['number', 'null'] },
          threshold: {
            type: 'object',
            properties: {
              below: { type: 'number' },
              above: { type: 'number' },
              dropFromBaseline: { type: 'number' },
            },
          },
          baseline: { type: ['number', 'null'] },
          limit: { type: ['number', 'null'] },
          degraded: { type: ['boolean', 'null'] },
          reason: { type: ['string', 'null'] },
        },
      },
    },
    computedAt: { type: 'string', format: 'date-time' },
    ...lineageFields,
    baseline: {
      description:
        "The baseline the window was evaluated against and the model's own performance on its training data (same metric names); null when unknown, metrics null when the training file had no label column.",
      type: 'object',
      nullable: true,
      properties: {
        id: { type: 'string' },
        metrics: {
          type: 'object',
          nullable: true,
          additionalProperties: { type: 'number' },
        },
      },
    },
  },
} as const;

export const timeRangeQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    from: {
      type: 'string',
      description: 'Window start at or after this time (ISO-8601 or epoch ms). Default: all.',
    },
    to: { type: 'string', description: 'Window start before this time. Default: no bound.' },
    window: { type: 'string', description: 'Window size label (e.g. 5m). Default: the smallest.' },
    limit: { type: 'integer', minimum: 1, maximum: 10000, default: 500 },
  },
} as const;

export const modelParams = {
  type: 'object',
  properties: { model: { type: 'string', maxLength: 200 } },
  required: ['model'],
} as const;

/** `{ model, window, windows: [...] }`: the envelope of the time-range routes. */
function windowsResponse<Id extends string>(
  $id: Id,
  items: { readonly $id: string },
  description: string,
) {
  return {
    $id,
    type: 'object',
    description,
    properties: {
      model: { type: 'string' },
      window: { type: 'string' },
      windows: { type: 'array', items: ref(items) },
    },
  } as const;
}

export const driftWindowsSchema = windowsResponse(
  'DriftWindows',
  windowResultSchema,
  'Drift results of closed windows, oldest first',
);
export const performanceWindowsSchema = windowsResponse(
  'PerformanceWindows',
  performanceSchema,
  'Performance of windows, oldest first',
);

const time = { type: 'string', format: 'date-time' } as const;

/** Where a revision sits in its window's history. */
const revisionFields = {
  revision: {
    type: 'integer',
    minimum: 1,
    description: "1-based, in order of writtenAt among the version's revisions of the window",
  },
  writtenAt: { ...time, description: 'When this revision was produced' },
} as const;

export const windowHistorySchema = {
  $id: 'WindowHistory',
  type: 'object',
  description:
    'Every revision ever written of one window (drift results and performance), oldest first per version: nothing a rewrite replaced is lost',
  required: ['model', 'window', 'start', 'results', 'performance'],
  properties: {
    model: { type: 'string' },
    window: { type: 'string' },
    start: time,
    results: {
      type: 'array',
      items: {
        type: 'object',
        properties: { ...revisionFields, ...windowResultSchema.properties },
      },
    },
    performance: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          ...revisionFields,
          ...windowFields,
          labeled: { type: 'integer' },
          coverage: { type: 'number' },
          metrics: { type: 'object', additionalProperties: { type: 'number' } },
          computedAt: time,
          ...lineageFields,
        },
      },
    },
  },
} as const;

export const rankedFeatureSchema = {
  $id: 'RankedFeature',
  type: 'object',
  description: "A feature's verdict in the summary's window, ranked by severity",
  properties: {
    ...featureDriftSchema.properties,
    rank: { type: 'integer' },
    severity: { type: 'number' },
    driftingSince: { ...nullableTime, description: 'Start of the current run of drifted windows' },
    consecutiveWindows: { type: 'integer', description: 'Drifted windows in the current run' },
  },
} as const;

export const summarySchema = {
  $id: 'Summary',
  type: 'object',
  description: 'What moved in the latest closed window with a verdict',
  properties: {
    model: { type: 'string' },
    window: { type: 'string' },
    latest: { anyOf: [ref(windowResultSchema), { type: 'null' }] },
    basis: { type: ['string', 'null'], enum: ['latest', 'latest-with-verdict', null] },
    skipped: {
      type: 'array',
      description:
        'Newer closed windows left out: too few events for a verdict, in the window or in its window reference',
      items: {
        type: 'object',
        properties: { start: time, end: time, eventCount: { type: 'integer' } },
      },
    },
    ranked: { type: 'array', items: ref(rankedFeatureSchema) },
  },
} as const;

export const histogramSchema = {
  $id: 'Histogram',
  type: 'object',
  description:
    'Baseline (reference) and window (current) shares per coarse bin of one feature, with its verdict',
  properties: {
    model: { type: 'string' },
    feature: { type: 'string' },
    window: { type: 'string' },
    version: { type: 'string' },
    start: time,
    end: time,
    baselineId: { type: 'string' },
    edges: {
      type: 'array',
      items: { type: 'number' },
      description: 'Numeric features: bin edges, one more than the bins',
    },
    labels: {
      type: 'array',
      items: { type: 'string' },
      description: 'Categorical features: the category of each bin (the last is "__other__")',
    },
    reference: { type: 'array', items: { type: 'number' } },
    current: { type: 'array', items: { type: 'number' } },
    drift: ref(featureDriftSchema),
  },
} as const;

export const baselineSchema = {
  $id: 'Baseline',
  type: 'object',
  description: 'A stored training baseline of one model version (content-hashed)',
  properties: {
    id: { type: 'string' },
    hash: { type: 'string', description: 'Content hash of the profile' },
    model: { type: 'string' },
    version: { type: 'string' },
    createdAt: time,
    source: { type: 'string', description: 'Training file name (no directory)' },
    rowCount: { type: 'integer' },
    badRows: { type: 'integer', description: 'Training rows skipped as unusable' },
    params: {
      type: 'object',
      description: 'The binning the profile was built with',
      properties: {
        bins: { type: 'integer' },
        psiBuckets: { type: 'integer' },
        topCategories: { type: 'integer' },
        sampleSize: { type: 'integer' },
      },
    },
    featureNames: {
      type: 'array',
      items: { type: 'string' },
      description: 'The profiled features, in profile order',
    },
  },
} as const;

export const modelSchema = {
  $id: 'Model',
  type: 'object',
  description: 'A configured model with its baselines and latest closed window',
  properties: {
    id: { type: 'string' },
    task: { type: 'string' },
    features: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          type: { type: 'string', enum: ['numeric', 'categorical'] },
        },
      },
    },
    windows: { type: 'array', items: { type: 'string' }, description: 'Window size labels' },
    baselines: { type: 'array', items: ref(baselineSchema) },
    latestWindow: {
      anyOf: [
        {
          type: 'object',
          properties: {
            version: { type: 'string' },
            start: time,
            end: time,
            eventCount: { type: 'integer' },
            driftShare: { type: 'number' },
            datasetDrift: { type: 'boolean' },
          },
        },
        { type: 'null' },
      ],
    },
  },
} as const;

export const modelListSchema = {
  $id: 'ModelList',
  type: 'object',
  description: 'The configured models',
  properties: { models: { type: 'array', items: ref(modelSchema) } },
} as const;

export const predictionRecordSchema = {
  $id: 'PredictionRecord',
  type: 'object',
  description:
    'The audit record of one prediction: the event as stored, the text it arrived as, its label, where it came from, and the windows it belongs to with their lineage',
  properties: {
    event: {
      type: 'object',
      description: 'The stored event (PII fields hashed, fields the config does not keep dropped)',
      properties: {
        model: { type: 'string' },
        version: { type: 'string' },
        id: { type: 'string' },
        ts: time,
        features: {
          type: 'object',
          description: 'Feature values by name (see FeatureValue)',
          additionalProperties: true,
        },
        prediction: ref(featureValueSchema),
      },
    },
    label: {
      anyOf: [
        {
          type: 'object',
          properties: {
            model: { type: 'string' },
            id: { type: 'string' },
            ts: time,
            label: { type: ['number', 'string'] },
          },
        },
        { type: 'null' },
      ],
    },
    late: { type: 'boolean', description: 'Arrived after its window closed: stored, in no window' },
    source: {
      type: 'object',
      description: 'Where the event came from: kind, and the file and line or the Kafka position',
      properties: {
        kind: { type: 'string', enum: ['http', 'replay', 'kafka'] },
        file: { type: 'string', description: 'replay: the file name (no directory)' },
        line: { type: 'integer' },
        topic: { type: 'string' },
        partition: { type: 'integer' },
        offset: { type: 'string' },
      },
    },
    ingestedAt: time,
    raw: {
      type: ['string', 'null'],
      description:
        'The text the event arrived as; null when not kept (models with PII fields, events with fields the config does not keep)',
    },
    windows: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          window: { type: 'string' },
          start: time,
          end: time,
          closed: { type: 'boolean' },
          baselineId: { type: ['string', 'null'] },
          baselineHash: { type: ['string', 'null'] },
          driftShare: { type: ['number', 'null'] },
        },
      },
    },
  },
} as const;

export const healthSchema = {
  $id: 'Health',
  type: 'object',
  description: 'The process serves requests; the driftd version',
  properties: { status: { type: 'string' }, version: { type: 'string' } },
} as const;

export const readinessSchema = {
  $id: 'Readiness',
  type: 'object',
  description: 'Ready when every check is ok (pipeline, store, and kafka when configured)',
  properties: {
    ready: { type: 'boolean' },
    checks: {
      type: 'object',
      description: 'By name: pipeline, store, kafka',
      additionalProperties: {
        type: 'object',
        properties: { ok: { type: 'boolean' }, detail: { type: 'string' } },
        required: ['ok'],
      },
    },
  },
  required: ['ready', 'checks'],
} as const;

/** Every shared schema, registered once before the routes (server.ts). */
export const componentSchemas = [
  errorSchema,
  itemErrorSchema,
  ingestReportSchema,
  timestampSchema,
  featureValueSchema,
  predictionEventSchema,
  labelEventSchema,
  featureDriftSchema,
  referenceSchema,
  windowResultSchema,
  performanceSchema,
  driftWindowsSchema,
  performanceWindowsSchema,
  windowHistorySchema,
  rankedFeatureSchema,
  summarySchema,
  histogramSchema,
  baselineSchema,
  modelSchema,
  modelListSchema,
  predictionRecordSchema,
  healthSchema,
  readinessSchema,
] as const;

export function addComponentSchemas(app: FastifyInstance): void {
  for (const schema of componentSchemas) app.addSchema(schema);
}
