/**
 * A byte buffer that grows by doubling, written from `len` on: the base of the store's payload
 * writers (JSONEachRow, RowBinary) and of the Kafka decode thread's answer. Every buffer it
 * allocates has an ArrayBuffer of its own (never a slice of Node's shared pool), so a payload
 * can be transferred to another thread or handed back for reuse whole.
 */
export class GrowableBuffer {
  protected buf: Buffer;
  protected len = 0;
  /** Rows written so far (for writers that count them). */
  rows = 0;

  /** `initial`: bytes to allocate, or a buffer to write into (its content is overwritten). */
  constructor(initial: number | Buffer = 1 << 16) {
    this.buf = typeof initial === 'number' ? Buffer.allocUnsafeSlow(initial) : initial;
  }

  get bytes(): number {
    return this.len;
  }

  /** Grows the buffer to hold at least `bytes` in total (one copy now instead of several later). */
  reserve(bytes: number): void {
    if (bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.ceil(bytes));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Makes room for `bytes` more. */
  protected room(bytes: number): void {
    if (this.len + bytes > this.buf.length)
      this.reserve(Math.max(this.buf.length * 2, this.len + bytes));
  }

  /** The payload so far (a view, not a copy). */
  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}
