import { DriftdError } from '../errors.js';

/** A running daemon's API, as a CLI command talks to it. */
export interface DaemonClient {
  readonly base: string;
  /** A request with the bearer token; answers parsed JSON, throws DaemonAnswerError on 4xx/5xx. */
  request<T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }>;
  /** A request whose answer is kept as text (e.g. an HTML report); throws as `request`. */
  requestText(path: string, init?: RequestInit): Promise<{ status: number; text: string }>;
  /** A request answered in NDJSON: each line parsed, in order; throws as `request` on 4xx/5xx. */
  requestLines(path: string, init: RequestInit, onLine: (line: unknown) => void): Promise<void>;
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
 * The daemon answering at `base` (its /healthz answers within `timeoutMs`), or why none does
 * (connection refused, no answer in time, a TLS certificate this host does not trust).
 */
export async function findDaemon(
  base: string,
  token: string | null,
  timeoutMs = 2000,
): Promise<DaemonClient | { unreachable: string }> {
  try {
    await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { unreachable: cause?.code ?? cause?.message ?? (err as Error).message };
  }
  const send = (path: string, init: RequestInit) => {
    const headers = new Headers(init.headers);
    if (token !== null) headers.set('authorization', `Bearer ${token}`);
    return fetch(`${base}${path}`, { ...init, headers });
  };
  const refused = async (res: Response): Promise<never> => {
    const text = await res.text();
    let e: { code?: string; message?: string } = {};
    try {
      e = JSON.parse(text) as typeof e;
    } catch {}
    const hint =
      res.status === 401 || res.status === 403
        ? ' (give a token with --token-file or $DRIFTD_TOKEN)'
        : '';
    throw new DaemonAnswerError(
      res.status,
      e.code ?? 'unknown',
      `the daemon at ${base} answered ${res.status}: ${e.message ?? text.slice(0, 200)}${hint}`,
    );
  };
  return {
    base,
    async request<T>(path: string, init: RequestInit = {}) {
      const res = await send(path, init);
      if (res.status >= 400) return refused(res);
      return { status: res.status, body: (await res.json()) as T };
    },
    async requestText(path: string, init: RequestInit = {}) {
      const res = await send(path, init);
      if (res.status >= 400) return refused(res);
      return { status: res.status, text: await res.text() };
    },
    async requestLines(path, init, onLine) {
      const res = await send(path, init);
      if (res.status >= 400) return refused(res);
      if (res.body === null) return;
      let carry = '';
      const decoder = new TextDecoder();
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        const lines = (carry + decoder.decode(chunk, { stream: true })).split('\n');
        carry = lines.pop() ?? '';
        for (const line of lines) if (line.trim() !== '') onLine(JSON.parse(line));
      }
      if (carry.trim() !== '') onLine(JSON.parse(carry));
    },
  };
}
