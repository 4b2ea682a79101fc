import { describe, expect, it } from 'vitest';
import { resolveAlerts } from '../../../src/config/alerts.js';
import type { ModelConfig } from '../../../src/config/types.js';
import {
  createRetrainEpisodes,
  type JudgeContext,
  type RetrainInput,
  type RetrainRecommendation,
  storedEstimate,
} from '../../../src/window/retrain.js';
import { testModel } from '../../helpers/model.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1);

function model(retrain: { driftWindows?: number; estimatedDegradationWindows?: number } = {}) {
  const m = testModel({
    windows: {
      sizes: [
        { label: '5m', ms: 5 * MIN },
        { label: '1h', ms: 60 * MIN },
      ],
      allowedLatenessMs: 0,
      idleTimeoutMs: MIN,
    },
  });
  return {
    ...m,
    alerts: resolveAlerts(
      'binary-classification',
      {},
      { consecutiveWindows: 2, performance: { roc_auc: { below: 0.7 } }, retrain },
    ),
  } satisfies ModelConfig;
}

const ctx: JudgeContext = { baseline: undefined, now: T0 + 999 * MIN, configHash: 'sha256:x' };

function win(
  k: number,
  over: Partial<RetrainInput> & { drifted?: boolean; auc?: number } = {},
): RetrainInput {
  const { drifted = false, auc, ...rest } = over;
  return {
    model: 'credit-risk',
    version: '3',
    sizeLabel: '5m',
    start: T0 + k * 5 * MIN,
    end: T0 + (k + 1) * 5 * MIN,
    provisional: false,
    datasetDrift: drifted,
    insufficient: false,
    driftShare: drifted ? 0.67 : 0,
    features: drifted
      ? [
          { feature: 'income', test: 'ks', effect: (40 + k) / 100, statistic: 0.4 },
          { feature: 'age', test: 'ks', effect: 0.2, statistic: 0.2 },
        ]
      : [],
    estimated: auc === undefined ? null : { roc_auc: auc },
    ...rest,
  };
}

/** Feeds windows, answering the transitions. */
function feed(
  e: ReturnType<typeof createRetrainEpisodes>,
  m: ModelConfig,
  inputs: RetrainInput[],
): RetrainRecommendation[] {
  return inputs.flatMap((i) => {
    const t = e.observe(i, m, ctx);
    return t === null ? [] : [t];
  });
}

describe('retrain episodes', () => {
  it('defaults: driftWindows = 2 × consecutiveWindows, estimatedDegradationWindows = consecutiveWindows', () => {
    expect(model().alerts.retrain).toEqual({ driftWindows: 4, estimatedDegradationWindows: 2 });
    expect(resolveAlerts('binary-classification', {}, { consecutiveWindows: 600 }).retrain).toEqual(
      {
        driftWindows: 1000,
        estimatedDegradationWindows: 600,
      },
    );
  });

  it('opens ONE episode on the driftWindows-th drifted window, however long the drift lasts, and closes at the first clean one', () => {
    const m = model({ driftWindows: 3 });
    const e = createRetrainEpisodes();
    const drifted = Array.from({ length: 10 }, (_, k) => win(k + 1, { drifted: true }));
    const transitions = feed(e, m, [win(0), ...drifted.slice(0, 2)]);
    expect(transitions).toEqual([]);
    const opened = feed(e, m, drifted.slice(2));
    expect(opened).toHaveLength(1);
    const rec = opened[0]!;
    expect(rec).toMatchObject({
      id: `5m@${new Date(T0 + 5 * MIN).toISOString()}`,
      status: 'open',
      triggers: ['drift'],
      window: '5m',
      driftWindows: 3,
      closedAt: null,
      configHash: 'sha256:x',
    });
    // Why: the run's windows and the features with their largest effects.
    expect(rec.windows.map((w) => (w.start - T0) / (5 * MIN))).toEqual([1, 2, 3]);
    expect(rec.features).toEqual([
      { feature: 'income', test: 'ks', windows: 3, maxEffect: 0.43 },
      { feature: 'age', test: 'ks', windows: 3, maxEffect: 0.2 },
    ]);
    expect(e.open().map((r) => r.id)).toEqual([rec.id]);

    const closed = feed(e, m, [win(11)]);
    expect(closed).toEqual([{ ...rec, status: 'closed', closedAt: ctx.now }]);
    expect(e.open()).toEqual([]);
    // A new run of the same length is a new episode.
    const again = feed(
      e,
      m,
      [12, 13, 14].map((k) => win(k, { drifted: true })),
    );
    expect(again.map((r) => [r.status, r.id])).toEqual([
      ['open', `5m@${new Date(T0 + 12 * 5 * MIN).toISOString()}`],
    ]);
  });

  it('windows without a verdict neither extend nor end a run (too few events, an open window found clean)', () => {
    const m = model({ driftWindows: 3 });
    const e = createRetrainEpisodes();
    expect(
      feed(e, m, [
        win(1, { drifted: true }),
        win(2, { insufficient: true }),
        win(3, { provisional: true }),
        win(4, { drifted: true }),
      ]),
    ).toEqual([]);
    const [rec] = feed(e, m, [win(5, { drifted: true })]);
    expect(rec!.windows.map((w) => (w.start - T0) / (5 * MIN))).toEqual([1, 4, 5]);
    // A provisional window found clean does not close it either.
    expect(feed(e, m, [win(6, { provisional: true })])).toEqual([]);
    // …its final clean result does.
    expect(feed(e, m, [win(6)]).map((r) => r.status)).toEqual(['closed']);
  });

  it('a rewrite replaces a window’s verdict, it is never counted twice', () => {
    const m = model({ driftWindows: 3 });
    const e = createRetrainEpisodes();
    // A drifted provisional result, then its final one: one window.
    expect(
      feed(e, m, [
        win(1, { drifted: true, provisional: true }),
        win(1, { drifted: true }),
        win(2, { drifted: true }),
      ]),
    ).toEqual([]);
    expect(feed(e, m, [win(3, { drifted: true })])).toHaveLength(1);
    // A late rewrite of window 2 to clean ends the run: the episode closes.
    expect(feed(e, m, [win(2)]).map((r) => r.status)).toEqual(['closed']);
  });

  it('opens on the label-free estimate below the performance threshold for estimatedDegradationWindows', () => {
    const m = model({ estimatedDegradationWindows: 2 });
    const e = createRetrainEpisodes();
    expect(feed(e, m, [win(1, { auc: 0.8 }), win(2, { auc: 0.65 })])).toEqual([]);
    const [rec] = feed(e, m, [win(3, { auc: 0.6 })]);
    expect(rec).toMatchObject({ triggers: ['estimated_degradation'], status: 'open' });
    expect(rec!.windows.map((w) => w.estimates)).toEqual([
      [{ metric: 'roc_auc', value: 0.65, threshold: { below: 0.7 }, limit: 0.7, degraded: true }],
      [{ metric: 'roc_auc', value: 0.6, threshold: { below: 0.7 }, limit: 0.7, degraded: true }],
    ]);
    // Windows without an estimate have no verdict: the episode stays open.
    expect(feed(e, m, [win(4), win(5)])).toEqual([]);
    expect(feed(e, m, [win(6, { auc: 0.9 })]).map((r) => r.status)).toEqual(['closed']);
  });

  it('both conditions: the evidence holds the windows of both runs; the episode closes when neither holds', () => {
    const m = model({ driftWindows: 2, estimatedDegradationWindows: 2 });
    const e = createRetrainEpisodes();
    const [rec] = feed(e, m, [
      win(1, { drifted: true, auc: 0.6 }),
      win(2, { drifted: true, auc: 0.6 }),
    ]);
    expect(rec!.triggers).toEqual(['drift', 'estimated_degradation']);
    expect(rec!.windows).toHaveLength(2);
    // Clean drift, still degraded: open.
    expect(feed(e, m, [win(3, { auc: 0.6 })])).toEqual([]);
    expect(feed(e, m, [win(4, { auc: 0.9 })]).map((r) => r.status)).toEqual(['closed']);
  });

  it('one episode per model version across window sizes: closed only when no size holds', () => {
    const m = model({ driftWindows: 2 });
    const e = createRetrainEpisodes();
    const hour = (k: number, drifted: boolean) =>
      win(0, {
        sizeLabel: '1h',
        start: T0 + k * 60 * MIN,
        end: T0 + (k + 1) * 60 * MIN,
        drifted,
      });
    expect(feed(e, m, [win(1, { drifted: true }), win(2, { drifted: true })])).toHaveLength(1);
    expect(feed(e, m, [hour(0, true), hour(1, true)])).toEqual([]);
    // 5m clean, 1h still holds.
    expect(feed(e, m, [win(3)])).toEqual([]);
    expect(feed(e, m, [hour(2, false)]).map((r) => r.status)).toEqual(['closed']);
    // Versions are independent.
    expect(
      feed(e, m, [
        win(1, { version: '4', drifted: true }),
        win(2, { version: '4', drifted: true }),
      ]).map((r) => [r.version, r.status]),
    ).toEqual([['4', 'open']]);
  });

  it('restart: the stored windows and open episode are restored without a transition; reconcile closes what the store says is over', () => {
    const m = model({ driftWindows: 3 });
    const first = createRetrainEpisodes();
    const [rec] = feed(
      first,
      m,
      [1, 2, 3].map((k) => win(k, { drifted: true })),
    );

    // Mid-episode: no second recommendation, now or with the next drifted window.
    const restarted = createRetrainEpisodes();
    restarted.restoreOpen(rec!);
    for (const k of [1, 2, 3]) restarted.seed(win(k, { drifted: true }), m, ctx);
    expect(restarted.reconcile(m, ctx)).toEqual([]);
    expect(feed(restarted, m, [win(4, { drifted: true })])).toEqual([]);
    expect(feed(restarted, m, [win(5)]).map((r) => [r.id, r.status])).toEqual([
      [rec!.id, 'closed'],
    ]);

    // The close was lost in a crash: the stored clean window closes it at startup.
    const crashed = createRetrainEpisodes();
    crashed.restoreOpen(rec!);
    for (const k of [1, 2, 3]) crashed.seed(win(k, { drifted: true }), m, ctx);
    crashed.seed(win(4), m, ctx);
    expect(crashed.reconcile(m, ctx).map((r) => [r.id, r.status])).toEqual([[rec!.id, 'closed']]);

    // The opening was lost: the stored run opens it at startup, with the same id.
    const lost = createRetrainEpisodes();
    for (const k of [1, 2, 3]) lost.seed(win(k, { drifted: true }), m, ctx);
    expect(lost.reconcile(m, ctx).map((r) => [r.id, r.status])).toEqual([[rec!.id, 'open']]);
  });

  it('a retired version is dropped, unless its episode is open (kept until closed)', () => {
    const m = model({ driftWindows: 2 });
    const e = createRetrainEpisodes();
    for (let v = 0; v < 1000; v++) feed(e, m, [win(1, { version: `v${v}`, drifted: true })]);
    expect(e.size()).toBe(1000);
    for (let v = 0; v < 1000; v++) e.retire('credit-risk', `v${v}`);
    expect(e.size()).toBe(0);

    const [rec] = feed(
      e,
      m,
      [1, 2].map((k) => win(k, { drifted: true })),
    );
    e.retire('credit-risk', '3');
    expect(e.open()).toEqual([rec]);
    // Back with a clean window: the episode closes.
    expect(feed(e, m, [win(3)]).map((r) => r.status)).toEqual(['closed']);
  });

  it('reads a stored estimate from the performance keys', () => {
    expect(
      storedEstimate({
        roc_auc: 0.9,
        estimated_roc_auc: 0.8,
        estimated_roc_auc_lower: 0.7,
        estimated_roc_auc_upper: 0.85,
        estimated_f1: Number.NaN,
        estimate_gap_roc_auc: 0.1,
      }),
    ).toEqual({ roc_auc: 0.8 });
  });
});
