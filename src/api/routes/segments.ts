import type { FastifyInstance } from 'fastify';
import { LATEST_STORABLE_TS } from '../../limits.js';
import type { PerformanceResult, WindowResult } from '../../types.js';
import { badRequest } from '../errors.js';
import { modelOf } from '../lookup.js';
import type { ApiDeps } from '../ports.js';
import { severity } from '../present.js';
import { modelParams } from '../schemas.js';
import { parseTime } from './models.js';

/*
 * "Which segments moved" (models[].segments): per segment of the latest window (or every
 * window of a range), its drift share, drifted features, largest effect and events, most
 * moved first, with its stored performance. Each segment is judged against the baseline's
 * rows of that segment.
 */

interface SegmentsQs {
  window?: string;
  version?: string;
  from?: string;
  to?: string;
}

const time = { type: 'string', format: 'date-time' } as const;

const segmentItem = {
  type: 'object',
  properties: {
    segment: { type: 'string', description: '"<field>=<value>"; value "__other__" for the rest' },
    field: { type: 'string' },
    value: { type: 'string' },
    version: { type: 'string' },
    windows: { type: 'integer', description: 'Windows of the segment in the range' },
    events: { type: 'integer' },
    driftShare: {
      type: 'number',
      description:
        'Largest drift share of the segment over its windows (share of features with a verdict that drifted)',
    },
    driftedWindows: {
      type: 'integer',
      description: 'Windows in which the segment drifted (dataset drift)',
    },
    driftedFeatures: { type: 'array', items: { type: 'string' } },
    performance: {
      anyOf: [
        {
          type: 'object',
          properties: {
            start: { ...time, description: 'The window this performance is of' },
            labeled: { type: 'integer', description: 'Labelled predictions of the segment' },
            coverage: {
              type: 'number',
              description: "Labelled share of the segment's events in that window",
            },
            metrics: { type: 'object', additionalProperties: { type: 'number' } },
          },
        },
        { type: 'null' },
      ],
      description:
        "The segment's stored performance (realised metrics, recomputed when labels arrive) of the newest window with labels among the windows shown: the latest window, or the range's newest labelled window of the segment; null without labels",
    },
    largest: {
      anyOf: [
        {
          type: 'object',
          properties: {
            feature: { type: 'string' },
            test: { type: 'string' },
            effect: { type: 'number' },
            severity: { type: 'number' },
            start: time,
          },
        },
        { type: 'null' },
      ],
      description:
        'The feature with the largest severity in any window (≥ 1 = drifted); null when none had a verdict',
    },
  },
} as const;

interface Ranked {
  segment: string;
  field: string;
  value: string;
  version: string;
  windows: number;
  events: number;
  driftShare: number;
  driftedWindows: number;
  driftedFeatures: string[];
  largest: {
    feature: string;
    test: string;
    effect: number;
    severity: number;
    start: string;
  } | null;
  performance: SegmentPerformance | null;
}

interface SegmentPerformance {
  start: string;
  labeled: number;
  coverage: number;
  metrics: Record<string, number>;
}

/**
 * Stored performance per segment, by "version\0segment": of each, the newest window with
 * labels (rows come oldest first).
 */
function segmentPerformance(rows: readonly PerformanceResult[]): Map<string, SegmentPerformance> {
  const out = new Map<string, SegmentPerformance>();
  for (const p of rows) {
    if (p.labeled === 0 || !p.segment) continue;
    out.set(`${p.version}\u0000${p.segment}`, {
      start: new Date(p.start).toISOString(),
      labeled: p.labeled,
      coverage: p.coverage,
      metrics: p.metrics,
    });
  }
  return out;
}

/** Per (version, segment): the results folded, most moved first. */
export function rankSegments(
  results: readonly WindowResult[],
  fields: readonly string[],
): Ranked[] {
  const out = new Map<string, Ranked & { drifted: Set<string> }>();
  for (const r of results) {
    const segment = r.segment ?? '';
    if (segment === '') continue;
    const field = fields.find((f) => segment.startsWith(`${f}=`)) ?? segment.split('=')[0]!;
    const key = `${r.version}\u0000${segment}`;
    let s = out.get(key);
    if (s === undefined) {
      s = {
        segment,
        field,
        value: segment.slice(field.length + 1),
        version: r.version,
        windows: 0,
        events: 0,
        driftShare: 0,
        driftedWindows: 0,
        driftedFeatures: [],
        largest: null,
        performance: null,
        drifted: new Set(),
      };
      out.set(key, s);
    }
    s.windows++;
    s.events += r.eventCount;
    s.driftShare = Math.max(s.driftShare, r.driftShare);
    if (r.datasetDrift) s.driftedWindows++;
    for (const d of r.features) {
      if (d.insufficient) continue;
      if (d.drifted) s.drifted.add(d.feature);
      const sev = severity(d);
      if (s.largest === null || sev > s.largest.severity) {
        s.largest = {
          feature: d.feature,
          test: d.test,
          effect: d.effect,
          severity: sev,
          start: new Date(r.start).toISOString(),
        };
      }
    }
  }
  return [...out.values()]
    .map(({ drifted, ...s }) => ({ ...s, driftedFeatures: [...drifted].sort() }))
    .sort(
      (a, b) =>
        b.driftShare - a.driftShare ||
        (b.largest?.severity ?? -1) - (a.largest?.severity ?? -1) ||
        b.events - a.events ||
        (a.segment < b.segment ? -1 : a.segment > b.segment ? 1 : 0) ||
        (a.version < b.version ? -1 : a.version > b.version ? 1 : 0),
    );
}

function withPerformance(ranked: Ranked[], perf: ReadonlyMap<string, SegmentPerformance>) {
  for (const r of ranked) r.performance = perf.get(`${r.version}\u0000${r.segment}`) ?? null;
  return ranked;
}

export function registerSegmentRoutes(app: FastifyInstance, deps: ApiDeps) {
  app.get(
    '/api/v1/models/:model/segments',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getSegments',
        summary: 'Which segments moved: segments ranked by drift, latest window or a time range',
        description:
          'Per segment of models[].segments ("<field>=<value>", "__other__" for the rest), each judged against the baseline rows of that segment: its largest drift share, the features that drifted, the largest effect and its events, most moved first (drift share, then severity, then events), and its stored performance of the newest window with labels. Without `from`/`to`: the latest closed window (of `version` when given); with them, every window starting in [from, to).',
        tags: ['drift'],
        params: modelParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            window: { type: 'string', description: 'Window size label. Default: the smallest.' },
            version: { type: 'string', maxLength: 200 },
            from: {
              type: 'string',
              description: 'Window start at or after (ISO-8601 or epoch ms).',
            },
            to: { type: 'string', description: 'Window start before (ISO-8601 or epoch ms).' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              model: { type: 'string' },
              window: { type: 'string' },
              basis: { type: 'string', enum: ['latest', 'range', 'none'] },
              from: { anyOf: [time, { type: 'null' }] },
              to: { anyOf: [time, { type: 'null' }] },
              segments: { type: 'array', items: segmentItem },
            },
          },
        },
      },
    },
    async (req) => {
      const { model } = req.params as { model: string };
      const qs = req.query as SegmentsQs;
      const m = modelOf(deps.models, model);
      const sizes = m.windows.sizes;
      const window = qs.window ?? sizes[0]!.label;
      if (!sizes.some((s) => s.label === window)) {
        throw badRequest(
          `window "${window}" is not configured for model "${m.id}" (configured: ${sizes.map((s) => s.label).join(', ')})`,
        );
      }
      const fields = m.segments?.fields ?? [];
      const version = qs.version === undefined ? {} : { version: qs.version };
      let from: number;
      let to: number;
      let basis: 'latest' | 'range';
      if (qs.from === undefined && qs.to === undefined) {
        const latest = await deps.store.latestWindowResult(m.id, { window, ...version });
        if (latest === null) {
          return { model: m.id, window, basis: 'none', from: null, to: null, segments: [] };
        }
        from = latest.start;
        to = latest.start + 1;
        Object.assign(version, { version: latest.version });
        basis = 'latest';
      } else {
        from = parseTime('from', qs.from, 0);
        to = Math.min(parseTime('to', qs.to, LATEST_STORABLE_TS), LATEST_STORABLE_TS);
        if (from > to)
          throw badRequest(
            `"from" (${qs.from}) is after "to" (${qs.to ?? 'the last time the store holds'})`,
          );
        basis = 'range';
      }
      const q = { model: m.id, window, from, to, segment: '*', ...version };
      const none = fields.length === 0 || from >= to;
      const results = none ? [] : await deps.store.queryDrift(q);
      const performance = none ? [] : await deps.store.queryPerformance(q);
      return {
        model: m.id,
        window,
        basis,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        segments: withPerformance(rankSegments(results, fields), segmentPerformance(performance)),
      };
    },
  );
}
