import { DriftdError } from '../errors.js';

/** A running daemon's API, as a CLI command talks to it. */
export interface DaemonClient {
  readonly base: string;
  /** A request with the bearer token; answers parsed JSON, throws DaemonAnswerError on 4xx/5xx. */
  request<T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }>;
}

/** The daemon refused a request: its status and message, as it answered them. */
export class DaemonAnswerError extends DriftdError {
  constructor(
    readonly status: number,
    readonly answerCode: string,
    message: string,
  ) {
    super('DRIFTD_ERR_BASELINE', message);
  }
}

/**
 * The daemon answering at `base` (its /healthz answers within `timeoutMs`), or null when none
 * does (nothing listens there: connection refused, or no answer in time).
 */
export async function findDaemon(
  base: string | null,
  token: string | null,
  timeoutMs = 2000,
): Promise<DaemonClient | null> {
  if (base === null) return null;
  try {
    await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch {
    return null;
  }
  return {
    base,
    async request<T>(path: string, init: RequestInit = {}) {
      const headers = new Headers(init.headers);
      if (token !== null) headers.set('authorization', `Bearer ${token}`);
      const res = await fetch(`${base}${path}`, { ...init, headers });
      const text = await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = { message: text.slice(0, 500) };
      }
      if (res.status >= 400) {
        const e = body as { code?: string; message?: string };
        const hint =
          res.status === 401 || res.status === 403
            ? ' (give a token with --token-file or $DRIFTD_TOKEN)'
            : '';
        throw new DaemonAnswerError(
          res.status,
          e.code ?? 'unknown',
          `the daemon at ${base} answered ${res.status}: ${e.message ?? text.slice(0, 200)}${hint}`,
        );
      }
      return { status: res.status, body: body as T };
    },
  };
}
