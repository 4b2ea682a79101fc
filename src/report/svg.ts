/*
 * Plots of the period report, drawn server-side as inline SVG (no script, no external URL):
 * one small time chart per series. Output depends on the input only, with fixed number
 * formatting, so a report built twice is byte-identical.
 */

export interface TimePoint {
  /** Epoch ms. */
  t: number;
  /** null: no value at this time (the line breaks). */
  y: number | null;
  /** Drawn as a marked point (a drifted or degraded window). */
  flagged?: boolean;
}

export interface TimeChart {
  title: string;
  from: number;
  to: number;
  points: readonly TimePoint[];
  /** A horizontal reference line (a threshold, a floor). */
  line?: { y: number; label: string } | null;
  /** Fixed y range; default 0 .. the largest value (or line) with headroom. */
  yMin?: number;
  yMax?: number;
  /** Bars instead of a line (e.g. label coverage per window). */
  bars?: boolean;
}

const W = 520;
const H = 150;
const PAD = { left: 48, right: 12, top: 20, bottom: 24 };

/** Fixed-precision text of a coordinate or value. */
export const fix = (x: number, digits = 1) => {
  const s = x.toFixed(digits);
  return s === `-${(0).toFixed(digits)}` ? (0).toFixed(digits) : s;
};

/** A value as a short, stable label: 4 significant digits, no exponent for ordinary values. */
export function num(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e6 || a < 1e-4) return x.toExponential(2);
  if (Number.isInteger(x)) return String(x);
  return String(Number(x.toPrecision(4)));
}

export const esc = (s: string) =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** One chart as an <svg> element (role img, titled), sized by viewBox and CSS. */
export function timeChart(chart: TimeChart): string {
  // A value that is not a finite number is drawn as none (the line breaks there).
  const c = {
    ...chart,
    points: chart.points.map((p) => (p.y === null || Number.isFinite(p.y) ? p : { ...p, y: null })),
  };
  const values = c.points.flatMap((p) => (p.y === null ? [] : [p.y]));
  const yMin = c.yMin ?? Math.min(0, ...values);
  const top = Math.max(...values, c.line?.y ?? Number.NEGATIVE_INFINITY, yMin + 1e-9);
  const yMax = c.yMax ?? (top > 0 ? top * 1.1 : yMin + 1);
  const span = c.to - c.from || 1;
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const x = (t: number) => PAD.left + ((t - c.from) / span) * iw;
  const y = (v: number) =>
    PAD.top + ih - ((Math.min(Math.max(v, yMin), yMax) - yMin) / (yMax - yMin)) * ih;
  const parts: string[] = [];
  parts.push(
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(c.title)}">`,
    `<title>${esc(c.title)}</title>`,
    `<rect class="frame" x="${PAD.left}" y="${PAD.top}" width="${iw}" height="${ih}"/>`,
    `<text class="t" x="${PAD.left}" y="13">${esc(c.title)}</text>`,
    `<text class="ax" x="${PAD.left - 4}" y="${fix(PAD.top + 4)}" text-anchor="end">${esc(num(yMax))}</text>`,
    `<text class="ax" x="${PAD.left - 4}" y="${fix(PAD.top + ih)}" text-anchor="end">${esc(num(yMin))}</text>`,
    `<text class="ax" x="${PAD.left}" y="${H - 6}">${day(c.from)}</text>`,
    `<text class="ax" x="${W - PAD.right}" y="${H - 6}" text-anchor="end">${day(c.to)}</text>`,
  );
  if (c.line) {
    const ly = fix(y(c.line.y));
    parts.push(
      `<line class="limit" x1="${PAD.left}" x2="${W - PAD.right}" y1="${ly}" y2="${ly}"/>`,
      `<text class="ax" x="${W - PAD.right - 2}" y="${fix(y(c.line.y) - 3)}" text-anchor="end">${esc(c.line.label)}</text>`,
    );
  }
  if (c.bars) {
    const n = Math.max(1, c.points.length);
    const bw = Math.max(1, Math.min(24, iw / n - 1));
    for (const p of c.points) {
      if (p.y === null) continue;
      const top = y(p.y);
      parts.push(
        `<rect class="bar${p.flagged ? ' hit' : ''}" x="${fix(x(p.t) - bw / 2)}" y="${fix(top)}" width="${fix(bw)}" height="${fix(Math.max(1, PAD.top + ih - top))}"/>`,
      );
    }
  } else {
    // The line breaks where a point has no value.
    let path = '';
    let pen = false;
    for (const p of c.points) {
      if (p.y === null) {
        pen = false;
        continue;
      }
      path += `${pen ? 'L' : 'M'}${fix(x(p.t))} ${fix(y(p.y))}`;
      pen = true;
    }
    if (path !== '') parts.push(`<path class="series" d="${path}"/>`);
    for (const p of c.points) {
      if (p.y === null) continue;
      parts.push(
        `<circle class="pt${p.flagged ? ' hit' : ''}" cx="${fix(x(p.t))}" cy="${fix(y(p.y))}" r="${p.flagged ? 3.5 : 2.5}"/>`,
      );
    }
  }
  parts.push('</svg>');
  return parts.join('');
}
