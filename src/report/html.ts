import type { FairnessResult } from '../stats/fairness.js';
import type { PeriodReport } from './model.js';
import { esc, num, type TimePoint, timeChart } from './svg.js';

/*
 * The period report as one self-contained HTML file: inline CSS and server-drawn SVG, no script
 * and no external URL; its Content-Security-Policy forbids every fetch, so opened anywhere it
 * loads nothing. The HTML shows the report model (model.ts) and nothing else: the same model
 * gives the same bytes.
 */

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'";

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1b1b1b;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b00020;font-weight:600}.ok{color:#1b5e20}.muted{color:#666}
code,pre{font:12px/1.3 ui-monospace,monospace}pre{background:#f7f7f7;padding:8px;overflow:auto;max-height:480px}
.charts{display:flex;flex-wrap:wrap;gap:8px}
svg.chart{background:#fff;border:1px solid #e3e3e3}svg .frame{fill:none;stroke:#bbb}
svg .series{fill:none;stroke:#1f5fa8;stroke-width:1.5}svg .pt{fill:#1f5fa8}svg .hit{fill:#c62828}
svg .bar{fill:#6d9bd1}svg .limit{stroke:#c62828;stroke-dasharray:4 3}
svg text{font:11px system-ui,sans-serif;fill:#333}svg .t{font-weight:600}
.notes li{color:#8a4b00}`;

const t = (ms: string) => Date.parse(ms);

function table(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  numeric = new Set<number>(),
): string {
  if (rows.length === 0) return '<p class="muted">none</p>';
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows
    .map(
      (r) =>
        `<tr>${r.map((c, i) => `<td${numeric.has(i) ? ' class="n"' : ''}>${c}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const flag = (b: boolean | null, yes: string, no: string) =>
  b === null
    ? '<span class="muted">–</span>'
    : b
      ? `<span class="bad">${yes}</span>`
      : `<span class="ok">${no}</span>`;
const pct = (x: number | null) => (x === null ? '–' : `${num(x * 100)}%`);

/** The report as HTML: deterministic, self-contained, no script. */
export function renderReportHtml(r: PeriodReport): string {
  const out: string[] = [];
  const title = `driftd report: ${r.model}, ${r.from} to ${r.to}`;
  out.push(
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    '<meta name="referrer" content="no-referrer">',
    `<title>${esc(title)}</title><style>${CSS}</style></head><body>`,
    `<h1>${esc(title)}</h1>`,
    `<p>Model <code>${esc(r.model)}</code>; period from <code>${esc(r.from)}</code> (inclusive) to <code>${esc(r.to)}</code> (exclusive); built by driftd ${esc(r.builtBy)} from the store; format <code>${esc(r.format)}</code>. The same store and period give the same report, byte for byte.</p>`,
  );
  if (r.notes.length > 0) {
    out.push(`<ul class="notes">${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  }

  out.push('<h2 id="alerts">Alerts fired</h2>');
  out.push(
    '<p class="muted">Derived from the stored results as the alert rules fire: a run of K (alerts.consecutiveWindows) or more consecutive drifted or degraded windows within the period.</p>',
  );
  out.push(
    table(
      ['alert', 'version', 'window', 'series', 'first window', 'last end', 'windows', 'fired at'],
      r.alerts.map((a) => [
        `<span class="bad">${esc(a.alert)}</span>`,
        esc(a.version),
        esc(a.window),
        esc(a.series),
        esc(a.firstStart),
        esc(a.lastEnd),
        String(a.windows),
        esc(a.firedAt),
      ]),
      new Set([6]),
    ),
  );

  out.push('<h2 id="baselines">Baselines</h2>');
  out.push(
    table(
      ['id', 'version', 'hash', 'source', 'created', 'rows', 'bad rows', 'windows of the period'],
      r.baselines.map((b) => [
        `<code>${esc(b.id)}</code>`,
        esc(b.version),
        `<code>${esc(b.hash)}</code>`,
        esc(b.source),
        esc(b.createdAt),
        String(b.rowCount),
        String(b.badRows),
        String(b.windows),
      ]),
      new Set([5, 6, 7]),
    ),
  );
  for (const b of r.baselines) {
    out.push(`<details><summary>Profile of baseline <code>${esc(b.id)}</code></summary>`);
    if (b.performance) {
      out.push(
        `<p>Performance on the baseline data: ${Object.entries(b.performance)
          .map(([k, v]) => `${esc(k)} ${num(v)}`)
          .join(', ')}</p>`,
      );
    }
    out.push(
      table(
        ['feature', 'kind', 'summary', 'missing'],
        b.features.map((f) => [
          esc(f.name),
          f.kind,
          f.kind === 'numeric'
            ? `n ${f.count}, mean ${num(f.mean)}, std ${num(f.std)}, min ${num(f.min)}, p1 ${num(f.p01)}, median ${num(f.p50)}, p99 ${num(f.p99)}, max ${num(f.max)}`
            : `${f.distinct} distinct; ${f.top.map((c) => `${esc(c.category)} ${pct(c.share)}`).join(', ')}`,
          String(f.missing),
        ]),
      ),
      '</details>',
    );
  }

  out.push('<h2 id="config">Configuration in force</h2>');
  out.push(
    `<p>Config hash <code>${esc(r.config.hash)}</code> (sha256 of the model's effective configuration as canonical JSON).</p>`,
    `<details><summary>Effective configuration</summary><pre>${esc(JSON.stringify(r.config.effective, null, 2))}</pre></details>`,
  );

  out.push('<h2 id="drift">Drift over time</h2>');
  out.push(
    '<p class="muted">Per feature, the effect measure of its test per judged window (red: drifted); the dashed line is the effect floor of a calibrated verdict.</p>',
  );
  let group = '';
  for (const s of r.drift) {
    const key = `${s.version}/${s.window}`;
    if (key !== group) {
      if (group !== '') out.push('</div>');
      out.push(`<h3>Version ${esc(s.version)}, ${esc(s.window)} windows</h3><div class="charts">`);
      group = key;
    }
    const floor = s.points.find((p) => p.floor !== null)?.floor ?? null;
    out.push(
      timeChart({
        title: `${s.feature} (${s.test} effect)`,
        from: t(r.from),
        to: t(r.to),
        points: s.points.map((p) => ({ t: t(p.start), y: p.effect, flagged: p.drifted })),
        line: floor === null ? null : { y: floor, label: `floor ${num(floor)}` },
      }),
    );
  }
  if (group !== '') out.push('</div>');
  if (r.drift.length === 0) out.push('<p class="muted">no judged windows in the period</p>');

  out.push('<h2 id="windows">Window verdicts</h2>');
  out.push(
    table(
      [
        'version',
        'window',
        'start',
        'end',
        'events',
        'late',
        'verdict',
        'drift share',
        'prediction',
        'drifted features',
        'baseline',
        'lineage',
      ],
      r.windows.map((w) => [
        esc(w.version),
        esc(w.window),
        esc(w.start),
        esc(w.end),
        String(w.eventCount),
        String(w.lateCount),
        w.judged
          ? flag(w.datasetDrift, 'dataset drift', 'no dataset drift')
          : '<span class="muted">too few events</span>',
        pct(w.driftShare),
        flag(w.predictionDrift, 'drifted', 'stable'),
        esc(w.driftedFeatures.join(', ')),
        `<code>${esc(w.baselineId)}</code>${w.reference === 'baseline' ? '' : ` (reference ${esc(w.reference)})`}${w.provisional ? ' provisional' : ''}`,
        esc([w.driftdVersion, w.configHash].filter((x) => x !== undefined).join(' ')),
      ]),
      new Set([4, 5, 7]),
    ),
  );

  out.push('<h2 id="performance">Performance and label coverage</h2>');
  out.push(
    table(
      ['version', 'window', 'windows', 'events', 'labelled', 'coverage'],
      r.labelCoverage.map((c) => [
        esc(c.version),
        esc(c.window),
        String(c.windows),
        String(c.events),
        String(c.labeled),
        pct(c.coverage),
      ]),
      new Set([2, 3, 4, 5]),
    ),
  );
  const perfGroups = new Map<string, typeof r.performance>();
  for (const p of r.performance) {
    const key = `${p.version}\u0000${p.window}`;
    perfGroups.set(key, [...(perfGroups.get(key) ?? []), p]);
  }
  for (const rows of perfGroups.values()) {
    const { version, window } = rows[0]!;
    out.push(`<h3>Version ${esc(version)}, ${esc(window)} windows</h3><div class="charts">`);
    out.push(
      timeChart({
        title: 'label coverage',
        from: t(r.from),
        to: t(r.to),
        points: rows.map((p) => ({ t: t(p.start), y: p.coverage })),
        yMin: 0,
        yMax: 1,
        bars: true,
      }),
    );
    const metrics = [...new Set(rows.flatMap((p) => Object.keys(p.metrics)))].sort();
    for (const m of metrics) {
      const points: TimePoint[] = rows.map((p) => ({
        t: t(p.start),
        y: p.metrics[m] ?? null,
        flagged: p.verdicts.some((v) => v.metric === m && v.degraded === true),
      }));
      const limit =
        rows.flatMap((p) => p.verdicts.filter((v) => v.metric === m && v.limit !== null)).at(-1)
          ?.limit ?? null;
      out.push(
        timeChart({
          title: m,
          from: t(r.from),
          to: t(r.to),
          points,
          line: limit === null ? null : { y: limit, label: `limit ${num(limit)}` },
        }),
      );
    }
    out.push('</div>');
  }
  if (r.performance.length === 0)
    out.push('<p class="muted">no labelled windows in the period</p>');

  out.push('<h2 id="fairness">Fairness by group</h2>');
  if (r.fairness === null) {
    out.push('<p class="muted">no protected attributes configured (models[].fairness)</p>');
  } else {
    out.push(
      '<p class="muted">Over the whole period per version, recomputed from the stored predictions and their labels (late labels included), as GET /api/v1/models/{model}/fairness.</p>',
    );
    for (const v of r.fairness) {
      for (const [attribute, f] of Object.entries(v.attributes)) {
        out.push(`<h3>Version ${esc(v.version)}, ${esc(attribute)}</h3>`, fairnessTable(f));
      }
    }
  }

  if (r.segments) {
    out.push('<h2 id="segments">Segments that moved</h2>');
    out.push(
      table(
        [
          'segment',
          'version',
          'window',
          'drifted windows',
          'windows',
          'max drift share',
          'features',
        ],
        r.segments.map((s) => [
          esc(s.segment),
          esc(s.version),
          esc(s.window),
          String(s.driftedWindows),
          String(s.windows),
          pct(s.maxDriftShare),
          esc(s.driftedFeatures.join(', ')),
        ]),
        new Set([3, 4, 5]),
      ),
    );
  }

  out.push('<h2 id="lineage">Lineage</h2>');
  out.push(
    `<p>Baselines of the period's windows: ${r.lineage.baselineIds.map((id) => `<code>${esc(id)}</code>`).join(', ') || 'none'}</p>`,
  );
  if (r.lineage.driftdVersions) {
    out.push(
      `<p>driftd versions that wrote the results: ${esc(r.lineage.driftdVersions.join(', '))}</p>`,
    );
  }
  if (r.lineage.configHashes) {
    out.push(
      `<p>Config hashes of the results: ${r.lineage.configHashes.map((h) => `<code>${esc(h)}</code>`).join(', ')}</p>`,
    );
  }
  out.push(
    '<p class="muted">Where the stored events of the period came from: Kafka partitions with the first and last offset, replayed files, HTTP.</p>',
    table(
      [
        'source',
        'topic',
        'partition',
        'first offset',
        'last offset',
        'file',
        'events',
        'first event',
        'last event',
      ],
      r.lineage.sources.map((s) => [
        esc(s.source),
        esc(s.topic),
        s.partition < 0 ? '' : String(s.partition),
        esc(s.firstOffset),
        esc(s.lastOffset),
        esc(s.file),
        String(s.events),
        esc(s.firstTs),
        esc(s.lastTs),
      ]),
      new Set([2, 3, 4, 6]),
    ),
  );
  out.push('</body></html>', '');
  return out.join('\n');
}

function fairnessTable(f: FairnessResult): string {
  const rate = (
    g: FairnessResult['groups'][number],
    m: keyof FairnessResult['groups'][number]['rates'],
  ) => {
    const e = g.rates[m];
    const ratio = g.ratios[m];
    const ci = e.interval ? ` [${num(e.interval.lower)}, ${num(e.interval.upper)}]` : '';
    const rv =
      g.group === f.reference
        ? ''
        : ` ratio ${num(ratio.value)}${ratio.verdict === 'disparity' ? ' <span class="bad">disparity</span>' : ''}`;
    return `${num(e.value)}${ci}${rv}`;
  };
  const rows = f.groups.map((g) => [
    `${esc(g.group)}${g.group === f.reference ? ' (reference)' : ''}`,
    String(g.predictions),
    String(g.labelled),
    rate(g, 'selection-rate'),
    rate(g, 'true-positive-rate'),
    rate(g, 'false-positive-rate'),
    g.verdict === 'disparity' ? `<span class="bad">${g.verdict}</span>` : esc(g.verdict),
  ]);
  return `${table(['group', 'predictions', 'labelled', 'selection rate', 'TPR', 'FPR', 'verdict'], rows, new Set([1, 2]))}
<p>Demographic parity ratio ${num(f.demographicParity.ratio)}, equalised-odds difference ${num(f.equalizedOdds.difference)}; verdict ${f.verdict === 'disparity' ? '<span class="bad">disparity</span>' : esc(f.verdict)} (ratio bounds ${num(f.ratioBounds.min)}–${num(f.ratioBounds.max)}, confidence ${num(f.confidence)}).</p>`;
}
