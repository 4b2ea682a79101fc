/** A one-line progress bar on a TTY, periodic plain lines otherwise (CI logs stay readable). */
export interface Progress {
  update(done: number, total?: number, note?: string): void;
  finish(note?: string): void;
}

export function createProgress(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  const started = Date.now();
  let lastPrint = 0;
  const tty = stream.isTTY === true;
  const render = (done: number, total: number | undefined, note: string | undefined) => {
    const secs = (Date.now() - started) / 1000;
    const rate = secs > 0 ? Math.round(done / secs) : 0;
    if (total !== undefined && total > 0) {
      const frac = Math.min(1, done / total);
      const width = 30;
      const filled = Math.round(frac * width);
      return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0)}% ${done}/${total} (${rate}/s)${note ? ` ${note}` : ''}`;
    }
    return `${label} ${done} (${rate}/s)${note ? ` ${note}` : ''}`;
  };
  return {
    update(done, total, note) {
      const now = Date.now();
      if (now - lastPrint < (tty ? 100 : 2000)) return;
      lastPrint = now;
      stream.write(tty ? `\r${render(done, total, note)}\x1b[K` : `${render(done, total, note)}\n`);
    },
    finish(note) {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      stream.write(`${tty ? '\r\x1b[K' : ''}${label} done in ${secs}s${note ? `: ${note}` : ''}\n`);
    },
  };
}
