/**
 * The report's HTML shows stored text (category values from training data, file and topic
 * names, segment values) escaped, so no stored value becomes markup or script; a value that is
 * not a finite number is drawn as a gap, never as NaN coordinates. The report model here is
 * written by hand (the renderer's input), with the worst strings in every text field.
 */
import { describe, expect, it } from 'vitest';
import { renderReportHtml } from '../../../src/report/html.js';
import type { PeriodReport } from '../../../src/report/model.js';

const EVIL = `<script>alert(1)</script><img src=x onerror="alert('x')">&amp;`;

const report: PeriodReport = {
  format: 'driftd-period-report/1',
  model: 'm',
  from: '2026-11-01T00:00:00.000Z',
  to: '2026-11-02T00:00:00.000Z',
  builtBy: '0.1.0',
  notes: [EVIL],
  config: { hash: 'sha256:00', effective: { id: 'm', note: EVIL } },
  baselines: [
    {
      id: 'bl_1',
      hash: 'h',
      version: EVIL,
      createdAt: '2026-10-01T00:00:00.000Z',
      source: EVIL,
      rowCount: 10,
      badRows: 0,
      params: { bins: 10, psiBuckets: 10, topCategories: 10, sampleSize: 10 },
      performance: { roc_auc: Number.NaN },
      windows: 1,
      features: [
        {
          name: EVIL,
          kind: 'categorical',
          distinct: 1,
          top: [{ category: EVIL, share: 1 }],
          missing: 0,
        },
      ],
    },
  ],
  windows: [],
  drift: [
    {
      version: EVIL,
      window: '1h',
      feature: EVIL,
      test: 'psi',
      points: [
        { start: '2026-11-01T00:00:00.000Z', effect: 0.2, floor: 0.1, drifted: true },
        { start: '2026-11-01T01:00:00.000Z', effect: Number.NaN, floor: 0.1, drifted: false },
        {
          start: '2026-11-01T02:00:00.000Z',
          effect: Number.POSITIVE_INFINITY,
          floor: 0.1,
          drifted: false,
        },
      ],
    },
  ],
  performance: [],
  labelCoverage: [],
  fairness: null,
  segments: [
    {
      version: '1',
      window: '1h',
      segment: `region=${EVIL}`,
      windows: 1,
      driftedWindows: 1,
      maxDriftShare: 1,
      driftedFeatures: [EVIL],
    },
  ],
  alerts: [],
  lineage: {
    baselineIds: ['bl_1'],
    sources: [
      {
        source: 'kafka',
        topic: EVIL,
        partition: 0,
        firstOffset: '1',
        lastOffset: '2',
        file: '',
        events: 2,
        firstTs: '2026-11-01T00:00:00.000Z',
        lastTs: '2026-11-01T00:00:01.000Z',
      },
      {
        source: 'replay',
        topic: '',
        partition: -1,
        firstOffset: '',
        lastOffset: '',
        file: EVIL,
        events: 1,
        firstTs: '2026-11-01T00:00:00.000Z',
        lastTs: '2026-11-01T00:00:00.000Z',
      },
    ],
  },
};

describe('report HTML', () => {
  const html = renderReportHtml(report);

  it('escapes every stored text: no markup, no script, no attribute from the data', () => {
    expect(html).not.toMatch(/<script|<img/i);
    expect(html).toContain(
      '&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;',
    );
    // No attribute from the data: its quotes are escaped, so it stays text inside a value.
    expect(html).not.toMatch(/onerror\s*=\s*["']/i);
    expect(html).toContain('&amp;amp;');
  });

  it('draws a value that is not a finite number as a gap, never NaN coordinates', () => {
    expect(html).not.toMatch(/NaN|Infinity/);
    expect(html.match(/<circle /g)).toHaveLength(1);
  });

  it('is the same text for the same model', () => {
    expect(renderReportHtml(structuredClone(report))).toBe(html);
  });
});
