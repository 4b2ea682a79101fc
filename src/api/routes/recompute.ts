import type { FastifyInstance } from 'fastify';
import type { ModelConfig } from '../../config/types.js';
import { parseTimestamp } from '../../ingest/decode.js';
import type { FeatureDrift, NumericProfile, WindowResult } from '../../types.js';
import { badRequest, HttpError, notFound } from '../errors.js';
import { modelOf as configuredModel } from '../lookup.js';
import type { ApiDeps } from '../ports.js';
import { modelParams, ref } from '../schemas.js';

/*
 * Exact KS recompute of a closed window, for incident diagnosis.
 *
 * The daemon's KS is streamed: the window's values are counted over the baseline's K fine
 * quantile bins, and D_binned is within `ksBound` (at most the largest baseline bin mass, ≈ 1/K,
 * and less where bins hold repeated values) of the exact statistic against the FULL baseline:
 * D_binned ≤ D_full ≤ D_binned + ksBound
 * (src/stats/ks.ts). The recompute runs ClickHouse's kolmogorovSmirnovTest('two-sided') on the
 * window's raw events, but the baseline side is the baseline's reservoir SAMPLE (n values, not
 * all N rows: only the sample is stored). The sample's ECDF F_n is within ε of the full
 * baseline's F everywhere with probability ≥ 1 − α, by the Dvoretzky–Kiefer–Wolfowitz
 * inequality (Massart's constant): P(sup |F_n − F| > ε) ≤ 2·exp(−2nε²), so
 * ε = sqrt(ln(2/α) / (2n)); at α = 0.001 and n = 10 000, ε ≈ 0.0195. (DKW is stated for
 * i.i.d. draws; a reservoir sample is drawn without replacement from the finite baseline, which
 * fluctuates less, so the bound is conservative. ε = 0 when the sample IS the whole baseline.)
 * By the triangle inequality |D_sample − D_full| ≤ ε, hence
 *     −ε ≤ D_exact(sample) − D_streamed ≤ ksBound + ε      (with probability ≥ 99.9 %),
 * which is what `withinBound` checks. A difference outside it means the stored window and the
 * raw events disagree (events past the raw-data TTL, late events, duplicates counted twice) or
 * a bug; `counts` shows whether both sides saw the same number of values.
 */

/** Confidence of the sample-error term. */
export const SAMPLE_ERROR_CONFIDENCE = 0.999;
/** Floating-point slack of the comparison (ClickHouse sums 1/n steps; SciPy rounds to h/lcm). */
const FLOAT_SLACK = 1e-9;

/** DKW ε: sup |F_n − F| ≤ ε with probability ≥ `confidence` for a sample of n. */
export function dkwEpsilon(n: number, confidence = SAMPLE_ERROR_CONFIDENCE): number {
  if (!(n > 0)) return 1;
  return Math.sqrt(Math.log(2 / (1 - confidence)) / (2 * n));
}

interface RecomputeBody {
  window?: string;
  start: string | number;
  feature?: string;
  version?: string;
}

const nullableNumber = { type: ['number', 'null'] } as const;

const resultSchema = {
  $id: 'RecomputeResult',
  type: 'object',
  description: 'Exact and streamed KS of one feature, and whether they agree within the bound',
  properties: {
    feature: { type: 'string' },
    exact: {
      type: ['object', 'null'],
      properties: {
        statistic: nullableNumber,
        pValue: nullableNumber,
        n: { type: 'integer', description: 'Reference size: the baseline sample of the feature' },
        m: { type: 'integer', description: 'Window values: one per prediction id, on time' },
        method: { type: 'string' },
        pValueMethod: { type: 'string', enum: ['exact', 'asymptotic'] },
        lateEvents: { type: 'integer' },
      },
    },
    streamed: {
      type: 'object',
      properties: {
        ksStatistic: nullableNumber,
        ksBound: nullableNumber,
        test: { type: 'string' },
        statistic: { type: 'number' },
        pValue: nullableNumber,
        count: { type: 'integer' },
      },
    },
    tolerance: {
      type: ['object', 'null'],
      properties: {
        binning: { type: 'number', description: 'ksBound: streamed vs exact on the full baseline' },
        sample: {
          type: 'number',
          description:
            'DKW ε of the baseline sample at `confidence` (0 if the sample is the baseline)',
        },
        confidence: { type: 'number' },
        low: { type: 'number' },
        high: { type: 'number' },
      },
    },
    difference: nullableNumber,
    withinBound: { type: ['boolean', 'null'] },
    countsMatch: { type: ['boolean', 'null'] },
    skipped: { type: ['string', 'null'] },
  },
} as const;

const recomputeSchema = {
  $id: 'Recompute',
  type: 'object',
  description: 'The window recomputed, and one result per numeric feature',
  properties: {
    model: { type: 'string' },
    version: { type: 'string' },
    window: { type: 'string' },
    start: { type: 'string', format: 'date-time' },
    end: { type: 'string', format: 'date-time' },
    baselineId: { type: 'string' },
    reference: { type: 'string' },
    results: { type: 'array', items: ref(resultSchema) },
  },
} as const;

export interface RecomputeResult {
  feature: string;
  exact: {
    statistic: number | null;
    pValue: number | null;
    n: number;
    m: number;
    method: 'clickhouse kolmogorovSmirnovTest';
    pValueMethod: 'exact' | 'asymptotic';
    lateEvents: number;
  } | null;
  streamed: {
    ksStatistic: number | null;
    ksBound: number | null;
    test: string;
    statistic: number;
    pValue: number | null;
    count: number;
  };
  tolerance: {
    binning: number;
    sample: number;
    confidence: number;
    low: number;
    high: number;
  } | null;
  /** exact − streamed KS statistic. */
  difference: number | null;
  withinBound: boolean | null;
  /** The raw events gave as many values as the window counted. */
  countsMatch: boolean | null;
  /** Why there is no exact result (no sample, no numeric profile, no raw values). */
  skipped: string | null;
}

function parseStart(v: string | number): number {
  const ms =
    typeof v === 'number' ? v : /^\d+$/.test(v) ? Number(v) : (parseTimestamp(v) ?? Number.NaN);
  if (!Number.isFinite(ms) || ms < 0) {
    throw badRequest(`"start" must be ISO-8601 with a zone or epoch ms, got ${JSON.stringify(v)}`);
  }
  return ms;
}

export function registerRecomputeRoutes(app: FastifyInstance, deps: ApiDeps) {
  // Components of the OpenAPI document (server.ts names them by $id).
  app.addSchema(resultSchema);
  app.addSchema(recomputeSchema);
  const modelOf = (id: string): ModelConfig => configuredModel(deps.models, id);

  app.post(
    '/api/v1/models/:model/recompute',
    {
      schema: {
        operationId: 'recomputeWindow',
        summary:
          'Exact KS of a closed window, recomputed in ClickHouse from raw events against the baseline sample, next to the streamed value',
        description:
          'For every numeric feature of the window (or the one asked), runs ClickHouse kolmogorovSmirnovTest on the raw on-time events of the window (one value per prediction id) against the reservoir sample of the baseline the window was compared with. The sample is not the full baseline: `tolerance.sample` is the DKW error of the sample ECDF at 99.9 % confidence, so `withinBound` checks −ε ≤ exact − streamed ≤ ksBound + ε.',
        tags: ['drift'],
        params: modelParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['start'],
          properties: {
            window: {
              type: 'string',
              description: 'Window size label (e.g. 5m). Default: the smallest.',
            },
            start: {
              anyOf: [{ type: 'string' }, { type: 'integer', minimum: 0 }],
              description: 'A time inside the window, usually its start (ISO-8601 or epoch ms)',
            },
            feature: { type: 'string', description: 'Only this numeric feature' },
            version: {
              type: 'string',
              description: 'Model version, when several share the window',
            },
          },
        },
        response: {
          200: ref(recomputeSchema),
        },
      },
      config: { scope: 'admin' },
    },
    async (req) => {
      const { model } = req.params as { model: string };
      const body = req.body as RecomputeBody;
      const m = modelOf(model);
      const sizes = m.windows.sizes;
      const window = body.window ?? sizes[0]!.label;
      if (!sizes.some((s) => s.label === window)) {
        throw badRequest(
          `window "${window}" is not configured for model "${m.id}" (configured: ${sizes.map((s) => s.label).join(', ')})`,
        );
      }
      if (body.feature !== undefined) {
        const f = m.features.find((x) => x.name === body.feature);
        if (!f) throw notFound(`feature "${body.feature}" is not configured for model "${m.id}"`);
        if (f.type !== 'numeric') {
          throw badRequest(
            `feature "${body.feature}" is ${f.type}: the KS recompute needs a numeric feature`,
          );
        }
      }
      const start = parseStart(body.start);
      const found = await deps.store.queryDrift({
        model: m.id,
        window,
        from: start,
        to: start + 1,
        ...(body.version !== undefined ? { version: body.version } : {}),
      });
      if (found.length === 0) {
        throw notFound(
          `no closed ${window} window of "${m.id}"${body.version !== undefined ? ` version ${body.version}` : ''} contains ${new Date(start).toISOString()}`,
        );
      }
      if (found.length > 1) {
        throw new HttpError(
          409,
          'DRIFTD_ERR_AMBIGUOUS',
          `several model versions have a ${window} window there (${found.map((w) => w.version).join(', ')}): set "version"`,
        );
      }
      const result: WindowResult = found[0]!;
      const baseline = await deps.store.getBaseline(result.baselineId);
      if (!baseline) {
        throw notFound(`baseline ${result.baselineId} of the window is no longer stored`);
      }

      const drifts = result.features.filter(
        (d) => d.type === 'numeric' && (body.feature === undefined || d.feature === body.feature),
      );
      if (body.feature !== undefined && drifts.length === 0) {
        throw notFound(`the window has no result for "${body.feature}" (not in its baseline?)`);
      }
      const results: RecomputeResult[] = [];
      for (const d of drifts) {
        const profile = baseline.features[d.feature];
        results.push(
          await recompute(deps, result, d, profile?.kind === 'numeric' ? profile : undefined),
        );
      }
      return {
        model: m.id,
        version: result.version,
        window,
        start: new Date(result.start).toISOString(),
        end: new Date(result.end).toISOString(),
        baselineId: result.baselineId,
        reference: `the reservoir sample of baseline ${result.baselineId} (up to drift.sampleSize values per feature), not the full baseline; tolerance.sample is its DKW error at ${SAMPLE_ERROR_CONFIDENCE * 100} % confidence`,
        results,
      };
    },
  );
}

async function recompute(
  deps: ApiDeps,
  w: WindowResult,
  d: FeatureDrift,
  profile: NumericProfile | undefined,
): Promise<RecomputeResult> {
  const streamed = {
    ksStatistic: d.ksStatistic,
    ksBound: d.ksBound,
    test: d.test,
    statistic: d.statistic,
    pValue: d.pValue,
    count: d.count,
  };
  const empty = (skipped: string): RecomputeResult => ({
    feature: d.feature,
    exact: null,
    streamed,
    tolerance: null,
    difference: null,
    withinBound: null,
    countsMatch: null,
    skipped,
  });
  if (!profile) return empty('the baseline has no numeric profile of this feature');
  if (profile.sample.length === 0) return empty('the baseline keeps no sample of this feature');

  const exact = await deps.store.exactKs({
    model: w.model,
    version: w.version,
    from: w.start,
    to: w.end,
    feature: d.feature,
    reference: profile.sample,
  });
  const out: RecomputeResult = {
    ...empty(''),
    skipped: null,
    exact: {
      statistic: exact.statistic,
      pValue: exact.pValue,
      n: exact.n,
      m: exact.m,
      method: 'clickhouse kolmogorovSmirnovTest',
      // ClickHouse's 'auto' method, measured against SciPy: exact while max(n, m) ≤ 10 000.
      pValueMethod: Math.max(exact.n, exact.m) <= 10_000 ? 'exact' : 'asymptotic',
      lateEvents: exact.lateEvents,
    },
    countsMatch: exact.m === d.count,
  };
  if (exact.statistic === null) {
    out.skipped = 'no raw values of this feature in the window (raw-data TTL passed?)';
    return out;
  }
  if (d.ksStatistic === null || d.ksBound === null) {
    out.skipped = 'the stored window has no streamed KS statistic for this feature';
    return out;
  }
  const population = profile.counts.reduce((a, b) => a + b, 0);
  const sampleError = profile.sample.length >= population ? 0 : dkwEpsilon(profile.sample.length);
  const low = -sampleError - FLOAT_SLACK;
  const high = d.ksBound + sampleError + FLOAT_SLACK;
  const difference = exact.statistic - d.ksStatistic;
  out.tolerance = {
    binning: d.ksBound,
    sample: sampleError,
    confidence: SAMPLE_ERROR_CONFIDENCE,
    low,
    high,
  };
  out.difference = difference;
  out.withinBound = difference >= low && difference <= high;
  return out;
}
