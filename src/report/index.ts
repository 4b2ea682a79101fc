import { parseTimestamp } from '../ingest/decode.js';
import { renderReportHtml } from './html.js';
import type { PeriodReport } from './model.js';

export {
  buildReport,
  MAX_REPORT_DAYS,
  MAX_REPORT_WINDOWS,
  type PeriodReport,
  periodProblem,
  REPORT_FORMAT,
  type ReportStore,
} from './model.js';

export type ReportFormat = 'html' | 'json';
export const REPORT_FORMATS: readonly ReportFormat[] = ['html', 'json'];

/** The report's bytes in `format`: the one place both the CLI and the API write them. */
export function renderReport(report: PeriodReport, format: ReportFormat): string {
  return format === 'html' ? renderReportHtml(report) : `${JSON.stringify(report, null, 2)}\n`;
}

export const REPORT_MEDIA_TYPES: Readonly<Record<ReportFormat, string>> = {
  html: 'text/html; charset=utf-8',
  json: 'application/json; charset=utf-8',
};

/** A period bound as the CLI and the API take it: ISO-8601 with a zone, or epoch ms; else undefined. */
export function reportTime(v: string): number | undefined {
  const ms = /^\d{1,15}$/.test(v) ? Number(v) : parseTimestamp(v);
  return ms !== undefined && Number.isFinite(ms) ? ms : undefined;
}
