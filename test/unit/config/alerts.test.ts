/**
 * The `alerts:` section (src/config/alerts.ts): top-level defaults merged under each model's
 * own settings, and clear errors naming the bad key.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SEVERITY } from '../../../src/config/alerts.js';
import { parseConfig } from '../../../src/config/index.js';

const doc = (top: string, model = '', task = 'binary-classification') => `${top}
models:
  - id: m
    task: ${task}
    features: [{ name: x, type: numeric }]
${model}`;
const parse = (top: string, model = '', task?: string) =>
  parseConfig(doc(top, model, task), { env: {} });

describe('alerts (src/config/alerts.ts)', () => {
  it('defaults: no links, K = 2, relative performance thresholds, dataset drift a warning', () => {
    const c = parse('');
    expect(c.models[0]!.alerts).toEqual({
      labels: {},
      runbookBaseUrl: null,
      apiBaseUrl: null,
      consecutiveWindows: 2,
      severity: DEFAULT_SEVERITY,
      performance: { roc_auc: { dropFromBaseline: 0.05 }, brier: { dropFromBaseline: 0.05 } },
      labelCoverage: { alertBelow: 0.05, minForPerformance: 0.1 },
      dataQuality: {
        missingIncrease: 0.1,
        unseenRatio: 0.05,
        outOfRangeRatio: 0.05,
        invalidRatio: 0.01,
      },
      expectedEventsPerSecond: null,
      rollback: { estimatedDrop: 0.05, realisedDrop: 0.05, predictionDrift: true },
    });
    expect(c.models[0]!.alerts.severity.DriftdDatasetDrift).toBe('warning');
    expect(c.alerts).toMatchObject({ job: 'driftd', consumerLagMessages: 100_000 });
    expect(parse('', '', 'regression').models[0]!.alerts.performance).toEqual({});
  });

  it('merges a model over the top level key by key', () => {
    const c = parse(
      `alerts:
  labels: { team: ml-platform, tier: "1" }
  runbookBaseUrl: https://runbooks.example.org/driftd/
  consecutiveWindows: 3
  severity: { DriftdFeatureDrift: info, DriftdDown: warning }
  performance: { roc_auc: { below: 0.7 }, recall: { below: 0.4 } }
  dataQuality: { unseenRatio: 0.2 }`,
      `    alerts:
      labels: { team: risk-ml }
      apiBaseUrl: http://driftd.internal:8080
      severity: { DriftdDatasetDrift: off }
      performance: { recall: null, brier: { above: 0.3 } }
      dataQuality: { invalidRatio: 0.5 }
      expectedEventsPerSecond: 2.5`,
    );
    const a = c.models[0]!.alerts;
    expect(a.labels).toEqual({ team: 'risk-ml', tier: '1' });
    expect(a.runbookBaseUrl).toBe('https://runbooks.example.org/driftd');
    expect(a.apiBaseUrl).toBe('http://driftd.internal:8080');
    expect(a.consecutiveWindows).toBe(3);
    expect(a.severity.DriftdFeatureDrift).toBe('info');
    expect(a.severity.DriftdDatasetDrift).toBe('off');
    expect(a.performance).toEqual({ roc_auc: { below: 0.7 }, brier: { above: 0.3 } });
    expect(a.dataQuality).toMatchObject({ unseenRatio: 0.2, invalidRatio: 0.5 });
    expect(a.expectedEventsPerSecond).toBe(2.5);
    expect(c.alerts).toMatchObject({
      labels: { team: 'ml-platform', tier: '1' },
      severity: { DriftdDown: 'warning', DriftdStoreErrors: 'critical' },
    });
  });

  it('alerts.rollback: the model over the top level key by key', () => {
    const c = parse(
      'alerts: { rollback: { estimatedDrop: 0.02, predictionDrift: false } }',
      '    alerts: { rollback: { realisedDrop: 0.1, predictionDrift: true } }',
    );
    expect(c.models[0]!.alerts.rollback).toEqual({
      estimatedDrop: 0.02,
      realisedDrop: 0.1,
      predictionDrift: true,
    });
    expect(c.models[0]!.alerts.severity.DriftdChallengerWorse).toBe('critical');
  });

  it('alerts.rollback: bad values name the key', () => {
    const bad: Array<[string, string, RegExp]> = [
      [
        'alerts: { rollback: { estimatedDrop: -0.1 } }',
        '',
        /alerts\.rollback\.estimatedDrop: must be/,
      ],
      [
        '',
        '    alerts: { rollback: { realisedDrop: .nan } }',
        /models\[0\]\.alerts\.rollback\.realisedDrop: must be/,
      ],
      [
        'alerts: { rollback: { predictionDrift: "yes" } }',
        '',
        /alerts\.rollback\.predictionDrift: must be true or false/,
      ],
      [
        'alerts: { rollback: { estimatedDrops: 0.1 } }',
        '',
        /unknown key "estimatedDrops" at alerts\.rollback \(did you mean "estimatedDrop"\?\)/,
      ],
      ['alerts: { rollback: 0.05 }', '', /alerts\.rollback: must be a mapping/],
    ];
    for (const [top, model, message] of bad) {
      expect(() => parse(top, model), `${top}${model}`).toThrow(message);
    }
  });

  it('refuses every bad value, naming the key', () => {
    const bad: Array<[string, string, RegExp]> = [
      [
        'alerts: { runbookBaseUrl: docs/runbooks }',
        '',
        /alerts\.runbookBaseUrl: "docs\/runbooks" is not an absolute http\(s\) URL/,
      ],
      [
        '',
        '    alerts: { runbookBaseUrl: /runbooks }',
        /models\[0\]\.alerts\.runbookBaseUrl: "\/runbooks" is not an absolute/,
      ],
      [
        'alerts: { apiBaseUrl: "ftp://x" }',
        '',
        /alerts\.apiBaseUrl: "ftp:\/\/x" is not an absolute/,
      ],
      [
        'alerts: { severity: { DriftdFeatureDrfit: warning } }',
        '',
        /unknown key "DriftdFeatureDrfit" at alerts\.severity \(did you mean "DriftdFeatureDrift"\?\)/,
      ],
      [
        'alerts: { severity: { DriftdNoData: page } }',
        '',
        /alerts\.severity\.DriftdNoData: must be/,
      ],
      [
        '',
        '    alerts: { severity: { DriftdDown: info } }',
        /models\[0\]\.alerts\.severity\.DriftdDown: is a pipeline alert/,
      ],
      [
        'alerts: { performance: { auc: { below: 0.7 } } }',
        '',
        /unknown key "auc" at alerts\.performance/,
      ],
      [
        '',
        '    alerts: { performance: { mae: { above: 3 } } }',
        /models\[0\]\.alerts\.performance\.mae: is not a metric of binary-classification models/,
      ],
      [
        'alerts: { performance: { roc_auc: { below: 0.7, above: 0.9 } } }',
        '',
        /alerts\.performance\.roc_auc: must be one of \{ below: x \}/,
      ],
      [
        'alerts: { performance: { roc_auc: { dropFromBaseline: -1 } } }',
        '',
        /alerts\.performance\.roc_auc\.dropFromBaseline: must be a number of at least 0/,
      ],
      [
        'alerts: { performance: { roc_auc: 0.7 } }',
        '',
        /alerts\.performance\.roc_auc: must be one of/,
      ],
      [
        'alerts: { labels: { severity: page } }',
        '',
        /alerts\.labels\.severity: is set by driftd's rules/,
      ],
      [
        // The fairness alert's own label (the protected group it names).
        'alerts: { labels: { group: risk } }',
        '',
        /alerts\.labels\.group: is set by driftd's rules/,
      ],
      [
        'alerts: { labels: { "team-name": x } }',
        '',
        /alerts\.labels\.team-name: is not a Prometheus label name/,
      ],
      ['alerts: { labels: { team: 3 } }', '', /alerts\.labels\.team: must be a non-empty string/],
      ['alerts: { labels: [team] }', '', /alerts\.labels: must be a mapping/],
      [
        'alerts: { consecutiveWindows: 0 }',
        '',
        /alerts\.consecutiveWindows: must be an integer between 1 and 1000/,
      ],
      ['', '    alerts: { job: x }', /models\[0\]\.alerts\.job: is a pipeline setting/],
      [
        'alerts: { dataQuality: { unseenRatio: 0 } }',
        '',
        /alerts\.dataQuality\.unseenRatio: must be a number/,
      ],
      [
        'alerts: { labelCoverage: { alertBelow: 2 } }',
        '',
        /alerts\.labelCoverage\.alertBelow: must be a number between 0 and 1/,
      ],
      [
        'alerts: { expectedEventsPerSecond: 0 }',
        '',
        /alerts\.expectedEventsPerSecond: must be a number greater than 0/,
      ],
      [
        'alerts: { deadLettersPerSecond: 0 }',
        '',
        /alerts\.deadLettersPerSecond: must be a number greater than 0/,
      ],
      ['alerts: { teams: x }', '', /unknown key "teams" at alerts/],
    ];
    for (const [top, model, message] of bad) {
      expect(() => parse(top, model), `${top} ${model}`).toThrow(message);
    }
  });
});
