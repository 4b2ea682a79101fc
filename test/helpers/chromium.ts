/**
 * A real headless Debian `chromium`, driven over the DevTools protocol on a pipe (no port, no
 * npm package, no browser download): opens a local file with the network off and answers what
 * an expression evaluated in the page gives, the URLs the page tried to fetch, and a screenshot.
 *
 *   it.skipIf(!chromium().available)('…', async () => {
 *     const seen = await openInChromium('/tmp/report.html', 'document.title');
 *   });
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { requireBinary } from './binaries.js';

/** The system chromium (apt-get install -y chromium): skipped locally, required in CI. */
export const chromium = () => requireBinary('chromium', 'chromium-browser');

export interface PageVisit<T> {
  /** What the expression evaluated to (JSON-serialisable). */
  value: T;
  /** Every URL the page asked for, besides the file itself. */
  requests: string[];
  /** PNG of the viewport. */
  screenshot: Buffer;
}

/** Opens `file` in headless chromium, network off; evaluates `expression` once it has loaded. */
export async function openInChromium<T>(
  file: string,
  expression: string,
  timeoutMs = 60_000,
): Promise<PageVisit<T>> {
  const binary = chromium().path;
  if (binary === null) throw new Error('chromium is not installed (apt-get install -y chromium)');
  const profile = await mkdtemp(join(tmpdir(), 'driftd-chromium-'));
  const child: ChildProcess = spawn(
    binary,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-extensions',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // No network: every host resolves nowhere and any proxying goes to a closed port.
      '--host-resolver-rules=MAP * ~NOTFOUND',
      '--proxy-server=127.0.0.1:9',
      `--user-data-dir=${profile}`,
      '--remote-debugging-pipe',
      '--window-size=1200,900',
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c) => {
    stderr += c;
  });
  const toBrowser = child.stdio[3] as Writable;
  const fromBrowser = child.stdio[4] as Readable;
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners: Array<
    (m: { method: string; params: Record<string, unknown>; sessionId?: string }) => void
  > = [];
  let carry = Buffer.alloc(0);
  fromBrowser.on('data', (chunk: Buffer) => {
    carry = Buffer.concat([carry, chunk]);
    let end = carry.indexOf(0);
    while (end >= 0) {
      const msg = JSON.parse(carry.subarray(0, end).toString('utf8'));
      carry = carry.subarray(end + 1);
      end = carry.indexOf(0);
      if (typeof msg.id === 'number') {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`${JSON.stringify(msg.error)}`));
        else p?.resolve(msg.result);
      } else {
        for (const l of listeners) l(msg);
      }
    }
  });
  const send = <R>(method: string, params: object = {}, sessionId?: string) =>
    new Promise<R>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      toBrowser.write(
        `${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`,
      );
    });
  const deadline = setTimeout(() => {
    for (const p of pending.values())
      p.reject(new Error(`chromium timed out; stderr: ${stderr.slice(-2000)}`));
  }, timeoutMs);
  try {
    const { targetId } = await send<{ targetId: string }>('Target.createTarget', {
      url: 'about:blank',
    });
    const { sessionId } = await send<{ sessionId: string }>('Target.attachToTarget', {
      targetId,
      flatten: true,
    });
    const requests: string[] = [];
    const target = pathToFileURL(file).href;
    listeners.push((m) => {
      if (m.sessionId !== sessionId || m.method !== 'Network.requestWillBeSent') return;
      const url = (m.params.request as { url: string }).url;
      if (url !== target) requests.push(url);
    });
    const loaded = new Promise<void>((resolve) => {
      listeners.push((m) => {
        if (m.sessionId === sessionId && m.method === 'Page.loadEventFired') resolve();
      });
    });
    await send('Page.enable', {}, sessionId);
    await send('Network.enable', {}, sessionId);
    await send(
      'Network.emulateNetworkConditions',
      { offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1 },
      sessionId,
    );
    await send('Page.navigate', { url: target }, sessionId);
    await loaded;
    const evaluated = await send<{ result: { value: T }; exceptionDetails?: unknown }>(
      'Runtime.evaluate',
      { expression, returnByValue: true },
      sessionId,
    );
    if (evaluated.exceptionDetails) {
      throw new Error(`evaluation failed: ${JSON.stringify(evaluated.exceptionDetails)}`);
    }
    const shot = await send<{ data: string }>(
      'Page.captureScreenshot',
      { format: 'png' },
      sessionId,
    );
    await send('Browser.close').catch(() => undefined);
    return {
      value: evaluated.result.value,
      requests,
      screenshot: Buffer.from(shot.data, 'base64'),
    };
  } finally {
    clearTimeout(deadline);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      await exited;
    }
    await rm(profile, { recursive: true, force: true });
  }
}
