/** JSON schemas shared by routes; they double as the OpenAPI components. */

/** Every error answer (see errors.ts); documented on every route as its 4xx and 5xx. */
export const errorSchema = {
  type: 'object',
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

export const ingestReportSchema = {
  type: 'object',
  properties: {
    accepted: { type: 'integer' },
    rejected: { type: 'integer' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          index: { type: 'integer', description: 'Zero-based position of the item in the batch' },
          reason: { type: 'string' },
          message: { type: 'string' },
        },
        required: ['index', 'reason', 'message'],
      },
    },
  },
  required: ['accepted', 'rejected', 'errors'],
} as const;

const nullableNumber = { type: ['number', 'null'] } as const;

export const histogramSchema = {
  type: ['object', 'null'],
  additionalProperties: true,
} as const;

export const featureDriftSchema = {
  type: 'object',
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

const windowFields = {
  model: { type: 'string' },
  version: { type: 'string' },
  window: { type: 'string', description: 'Window size label from the config, e.g. 5m' },
  start: { type: 'string', format: 'date-time' },
  end: { type: 'string', format: 'date-time' },
} as const;

export const windowResultSchema = {
  type: 'object',
  properties: {
    ...windowFields,
    baselineId: { type: 'string' },
    baselineHash: { type: 'string' },
    eventCount: { type: 'integer' },
    lateCount: { type: 'integer' },
    closedAt: { type: 'string', format: 'date-time' },
    driftShare: { type: 'number' },
    datasetDrift: { type: 'boolean' },
    reference: referenceSchema,
    provisional: {
      type: 'boolean',
      description:
        'The window is still open (its stream went quiet): its final result replaces this one.',
    },
    prediction: { anyOf: [featureDriftSchema, { type: 'null' }] },
    features: { type: 'array', items: featureDriftSchema },
  },
} as const;

export const performanceSchema = {
  type: 'object',
  properties: {
    ...windowFields,
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
export function windowsResponse(items: object) {
  return {
    type: 'object',
    properties: {
      model: { type: 'string' },
      window: { type: 'string' },
      windows: { type: 'array', items },
    },
  } as const;
}
