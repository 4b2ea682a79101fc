import type { FastifyInstance } from 'fastify';
import type { ModelConfig } from '../../config/types.js';
import { parseTimestamp } from '../../ingest/decode.js';
import { LATEST_STORABLE_TS } from '../../limits.js';
import type { FeatureDrift, PerformanceResult, WindowResult } from '../../types.js';
import { badRequest, notFound } from '../errors.js';
import { modelOf as configuredModel } from '../lookup.js';
import type { ApiDeps } from '../ports.js';
import {
  presentBaseline,
  presentFeature,
  presentPerformance,
  presentWindow,
  severity,
} from '../present.js';
import {
  driftWindowsSchema,
  histogramSchema,
  modelListSchema,
  modelParams,
  performanceWindowsSchema,
  ref,
  summarySchema,
  timeRangeQuery,
} from '../schemas.js';

interface RangeQs {
  from?: string;
  to?: string;
  window?: string;
  limit?: number;
  feature?: string;
  start?: string;
  segment?: string;
}

/** The store's times end in 2299: an open range is capped there, not overflowed. */
const MAX_TIME = LATEST_STORABLE_TS;

/** A time query parameter: ISO-8601 with a zone, or epoch ms; `fallback` when absent. */
export function parseTime(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const ms = /^\d+$/.test(v) ? Number(v) : parseTimestamp(v);
  if (ms === undefined || !Number.isFinite(ms)) {
    throw badRequest(
      `query parameter "${name}" must be ISO-8601 with a zone or epoch ms, got "${v}"`,
    );
  }
  return ms;
}

/** A `segment` query parameter: "<field>=<value>" of one of the model's segment fields. */
export function checkSegment(m: ModelConfig, segment: string): void {
  const fields = m.segments?.fields ?? [];
  if (fields.some((f) => segment.startsWith(`${f}=`))) return;
  if (!segment.includes('=')) {
    throw badRequest(
      `query parameter "segment" must be "<field>=<value>" (e.g. "region=EU"), got ${JSON.stringify(segment)}`,
    );
  }
  throw notFound(
    `${JSON.stringify(segment)} is not of a segment field of model "${m.id}" (segment fields: ${fields.length === 0 ? 'none' : fields.join(', ')})`,
  );
}

export function registerModelRoutes(app: FastifyInstance, deps: ApiDeps) {
  const modelOf = (id: string): ModelConfig => configuredModel(deps.models, id);
  const windowOf = (m: ModelConfig, label: string | undefined): string => {
    const sizes = m.windows.sizes;
    if (label === undefined) return sizes[0]!.label;
    if (!sizes.some((s) => s.label === label)) {
      throw badRequest(
        `window "${label}" is not configured for model "${m.id}" (configured: ${sizes.map((s) => s.label).join(', ')})`,
      );
    }
    return label;
  };
  const range = (m: ModelConfig, qs: RangeQs) => {
    const from = parseTime('from', qs.from, 0);
    const to = Math.min(parseTime('to', qs.to, MAX_TIME), MAX_TIME);
    if (from > to) {
      throw badRequest(
        qs.to === undefined
          ? `"from" (${qs.from}) is after the last time the store holds (${new Date(MAX_TIME).toISOString()})`
          : `"from" (${qs.from}) is after "to" (${qs.to})`,
      );
    }
    return { model: m.id, from, to, window: windowOf(m, qs.window) };
  };

  app.get(
    '/api/v1/models',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listModels',
        summary: 'Configured models with their baselines and latest closed window',
        tags: ['models'],
        response: { 200: ref(modelListSchema) },
      },
    },
    async () => {
      const baselines = await deps.store.listBaselines();
      const models = [];
      for (const m of deps.models.values()) {
        const latest = await deps.store.latestWindowResult(m.id, {
          window: m.windows.sizes[0]!.label,
        });
        models.push({
          id: m.id,
          task: m.task,
          features: m.features.map((f) => ({ name: f.name, type: f.type })),
          windows: m.windows.sizes.map((s) => s.label),
          baselines: baselines.filter((b) => b.model === m.id).map(presentBaseline),
          latestWindow: latest
            ? {
                version: latest.version,
                start: new Date(latest.start).toISOString(),
                end: new Date(latest.end).toISOString(),
                eventCount: latest.eventCount,
                driftShare: latest.driftShare,
                datasetDrift: latest.datasetDrift,
              }
            : null,
        });
      }
      return { models };
    },
  );

  app.get(
    '/api/v1/models/:model/drift',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getDrift',
        summary: 'Drift results of closed windows over a time range',
        tags: ['drift'],
        params: modelParams,
        querystring: {
          ...timeRangeQuery,
          properties: {
            ...timeRangeQuery.properties,
            feature: { type: 'string' },
            segment: {
              type: 'string',
              maxLength: 1000,
              description:
                'A segment\'s results ("<field>=<value>", the value "__other__" for the rest) instead of the whole traffic\'s.',
            },
          },
        },
        response: { 200: ref(driftWindowsSchema) },
      },
    },
    async (req) => {
      const { model } = req.params as { model: string };
      const qs = req.query as RangeQs;
      const m = modelOf(model);
      if (qs.feature !== undefined && !m.features.some((f) => f.name === qs.feature)) {
        throw notFound(`feature "${qs.feature}" is not configured for model "${m.id}"`);
      }
      if (qs.segment !== undefined && qs.segment !== '') checkSegment(m, qs.segment);
      const q = range(m, qs);
      const results = await deps.store.queryDrift({
        ...q,
        ...(qs.feature ? { feature: qs.feature } : {}),
        ...(qs.segment ? { segment: qs.segment } : {}),
      });
      const limited = results.slice(-(qs.limit ?? 500));
      return { model: m.id, window: q.window, windows: limited.map(presentWindow) };
    },
  );

  app.get(
    '/api/v1/models/:model/summary',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getSummary',
        summary:
          'What moved: the latest closed window with enough events for a verdict, features ranked by severity, and since when',
        description:
          '`latest` is the newest closed window in which at least one feature had enough events for a verdict (drift.minWindowSize); `basis` says which window that is and why (`latest`, or `latest-with-verdict` when newer windows were too small, listed in `skipped`). `severity` is one scale for every test: min(log(adjusted p)/log(alpha), effect/floor) for calibrated verdicts, drifted exactly when ≥ 1. `driftingSince` dates the current run of drifted windows, skipping windows without a verdict for the feature.',
        tags: ['drift'],
        params: modelParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { window: { type: 'string' } },
        },
        response: { 200: ref(summarySchema) },
      },
    },
    async (req) => {
      const { model } = req.params as { model: string };
      const m = modelOf(model);
      const window = windowOf(m, (req.query as RangeQs).window);
      const newest = await deps.store.latestWindowResult(m.id, { window });
      const none = { model: m.id, window, latest: null, basis: null, skipped: [], ranked: [] };
      if (!newest) return none;
      // Look back over recent windows to find the newest with a verdict and to date each
      // drifting feature's current run.
      const size = m.windows.sizes.find((s) => s.label === window)!.ms;
      const history = await deps.store.queryDrift({
        model: m.id,
        window,
        from: newest.start - 288 * size,
        to: newest.start + 1,
      });
      const { latest, skipped } = latestWithVerdict(newest, history);
      const iso = (ms: number) => new Date(ms).toISOString();
      const skippedOut = skipped.map((w) => ({
        start: iso(w.start),
        end: iso(w.end),
        eventCount: w.eventCount,
      }));
      if (!latest) return { ...none, skipped: skippedOut };
      const ranked = rankFeatures(latest, history);
      return {
        model: m.id,
        window,
        latest: presentWindow(latest),
        basis: skipped.length === 0 ? 'latest' : 'latest-with-verdict',
        skipped: skippedOut,
        ranked,
      };
    },
  );

  app.get(
    '/api/v1/models/:model/features/:feature/histogram',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getHistogram',
        summary: 'Baseline vs window histogram of one feature, for plotting',
        tags: ['drift'],
        params: {
          type: 'object',
          properties: { model: { type: 'string' }, feature: { type: 'string' } },
          required: ['model', 'feature'],
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            window: { type: 'string' },
            start: {
              type: 'string',
              description: 'Window start (ISO or epoch ms). Default: latest.',
            },
          },
        },
        response: { 200: ref(histogramSchema) },
      },
    },
    async (req) => {
      const { model, feature } = req.params as { model: string; feature: string };
      const qs = req.query as RangeQs;
      const m = modelOf(model);
      const isPrediction = feature === m.prediction.field;
      if (!isPrediction && !m.features.some((f) => f.name === feature)) {
        throw notFound(`feature "${feature}" is not configured for model "${m.id}"`);
      }
      const window = windowOf(m, qs.window);
      let result: WindowResult | null;
      if (qs.start !== undefined) {
        const start = parseTime('start', qs.start, 0);
        if (start > MAX_TIME) {
          throw badRequest(
            `"start" (${qs.start}) is after the last time the store holds (${new Date(MAX_TIME).toISOString()})`,
          );
        }
        const found = await deps.store.queryDrift({
          model: m.id,
          window,
          from: start,
          to: start + 1,
        });
        result = found[0] ?? null;
        if (!result)
          throw notFound(
            `no closed ${window} window of "${m.id}" starts at ${new Date(start).toISOString()}`,
          );
      } else {
        result = await deps.store.latestWindowResult(m.id, { window });
        if (!result) throw notFound(`model "${m.id}" has no closed ${window} window yet`);
      }
      const drift = isPrediction
        ? result.prediction
        : result.features.find((f) => f.feature === feature);
      if (!drift?.histogram) throw notFound(`window has no histogram for "${feature}"`);
      return {
        model: m.id,
        feature,
        window,
        version: result.version,
        start: new Date(result.start).toISOString(),
        end: new Date(result.end).toISOString(),
        baselineId: result.baselineId,
        ...drift.histogram,
        drift: presentFeature(drift),
      };
    },
  );

  app.get(
    '/api/v1/models/:model/performance',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getPerformance',
        summary:
          'Performance metrics per window (recomputed as labels arrive), with label coverage',
        tags: ['performance'],
        params: modelParams,
        querystring: {
          ...timeRangeQuery,
          properties: {
            ...timeRangeQuery.properties,
            segment: {
              type: 'string',
              maxLength: 1000,
              description:
                'A segment\'s performance ("<field>=<value>", the value "__other__" for the rest) instead of the whole traffic\'s: realised metrics only, no verdicts, no baseline (the baseline\'s performance is the whole population\'s).',
            },
          },
        },
        response: { 200: ref(performanceWindowsSchema) },
      },
    },
    async (req) => {
      const { model } = req.params as { model: string };
      const qs = req.query as RangeQs;
      const m = modelOf(model);
      if (qs.segment !== undefined && qs.segment !== '') checkSegment(m, qs.segment);
      const q = range(m, qs);
      if (qs.segment) {
        const rows = await deps.store.queryPerformance({ ...q, segment: qs.segment });
        return {
          model: m.id,
          window: q.window,
          windows: rows.slice(-(qs.limit ?? 500)).map((p) => presentPerformance(p, [])),
        };
      }
      const rows = (await deps.store.queryPerformance(q)).slice(-(qs.limit ?? 500));
      const baselines = await baselinesOfWindows(deps.store, q, rows);
      return {
        model: m.id,
        window: q.window,
        windows: rows.map((p) =>
          presentPerformance(p, deps.judgePerformance?.(p) ?? [], baselines(p)),
        ),
      };
    },
  );
}

/**
 * Each performance window's baseline, with the model's own performance on its training data:
 * the baseline its drift result names (lineage), else the version's newest import.
 */
async function baselinesOfWindows(
  store: ApiDeps['store'],
  q: { model: string; from: number; to: number; window: string },
  rows: readonly PerformanceResult[],
): Promise<
  (p: PerformanceResult) => { id: string; metrics: Record<string, number> | null } | null
> {
  if (rows.length === 0) return () => null;
  const key = (version: string, start: number) => `${version}\u0000${start}`;
  const evaluatedOn = new Map<string, string>();
  for (const r of await store.queryDrift(q)) evaluatedOn.set(key(r.version, r.start), r.baselineId);
  const newest = new Map<string, string>();
  for (const b of await store.listBaselines({ model: q.model })) {
    const seen = newest.get(b.version);
    if (seen === undefined) newest.set(b.version, b.id); // listed newest first per version
  }
  const profiles = new Map<string, Record<string, number> | null>();
  const ids = new Set<string>();
  for (const p of rows) {
    const id = evaluatedOn.get(key(p.version, p.start)) ?? newest.get(p.version);
    if (id !== undefined) ids.add(id);
  }
  for (const id of ids) profiles.set(id, (await store.getBaseline(id))?.performance ?? null);
  return (p) => {
    const id = evaluatedOn.get(key(p.version, p.start)) ?? newest.get(p.version);
    return id === undefined ? null : { id, metrics: profiles.get(id) ?? null };
  };
}

/** Whether any feature of the window had enough events for a verdict. */
function hasVerdict(r: WindowResult): boolean {
  return r.features.some((f) => !f.insufficient);
}

/**
 * The newest window with a verdict (among `newest` and `history`), and the newer windows
 * passed over because none of their features had enough events (e.g. a 2-event window at the
 * end of a replay, or a quiet night).
 */
export function latestWithVerdict(
  newest: WindowResult,
  history: readonly WindowResult[],
): { latest: WindowResult | null; skipped: WindowResult[] } {
  const ordered = [newest, ...history.filter((h) => h.start < newest.start)].sort(
    (a, b) => b.start - a.start,
  );
  const skipped: WindowResult[] = [];
  for (const r of ordered) {
    if (hasVerdict(r)) return { latest: r, skipped };
    skipped.push(r);
  }
  return { latest: null, skipped };
}

/**
 * Ranks the latest window's features by severity and dates each drifting feature's current
 * run: it goes back through consecutive windows while the feature drifted; a window where the
 * feature had no verdict (too few events) neither ends nor extends the run.
 */
export function rankFeatures(latest: WindowResult, history: readonly WindowResult[]) {
  const ordered = [...history]
    .filter((h) => h.start < latest.start)
    .sort((a, b) => b.start - a.start);
  const byFeature = (r: WindowResult, name: string): FeatureDrift | undefined =>
    r.features.find((f) => f.feature === name);
  return [...latest.features]
    .sort(
      (a, b) => Number(b.drifted) - Number(a.drifted) || severity(b) - severity(a) || b.psi - a.psi,
    )
    .map((f, i) => {
      let since: number | null = null;
      let run = 0;
      if (f.drifted) {
        since = latest.start;
        run = 1;
        let expected = latest.start;
        for (const h of ordered) {
          // A gap (no window closed) or a clean window ends the run; an insufficient one is
          // passed over.
          if (h.end !== expected) break;
          const hf = byFeature(h, f.feature);
          expected = h.start;
          if (hf?.insufficient) continue;
          if (!hf?.drifted) break;
          since = h.start;
          run++;
        }
      }
      return {
        ...presentFeature(f),
        rank: i + 1,
        severity: severity(f),
        driftingSince: since === null ? null : new Date(since).toISOString(),
        consecutiveWindows: run,
      };
    });
}
