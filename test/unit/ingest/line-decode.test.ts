/**
 * Replay's decode thread (line-decode.ts, real worker thread): every line decoded through it
 * must give what the event loop's own decoding of the line gives — the same event for the
 * windows and the store, the same reason and message (with its line number) for a rejection.
 */
import { describe, expect, it } from 'vitest';
import { type Decoded, decodePrediction, PredecodedItem } from '../../../src/ingest/decode.js';
import { createLineDecoder } from '../../../src/ingest/line-decode.js';
import { splitNdjson } from '../../../src/ingest/ndjson.js';
import { createLogger } from '../../../src/logger.js';
import type { PredictionEvent } from '../../../src/types.js';
import { decodeTestEvent, decodeTestModels } from '../../helpers/model.js';

const models = decodeTestModels();
const opts = { models, piiSalt: 'salt' };
const line = (v: unknown) => JSON.stringify(v);

const lines: string[] = [
  line(decodeTestEvent()),
  line(decodeTestEvent({ id: 'p-ü', features: { income: -1e-300, region: 'Zürich ✓' } })),
  line(decodeTestEvent({ features: { income: 1, age: 2 } })), // region absent
  line({ ...decodeTestEvent(), model: 'flags', features: { active: true, score: 3 } }),
  line(decodeTestEvent({ model: 'with-pii' })), // decoded on the event loop
  line(decodeTestEvent({ model: 'pinned' })),
  line(decodeTestEvent({ model: 'pinned', version: '4' })), // not in versions.allow
  '{"model": "credit-risk", ',
  '[1,2,3]',
  line(decodeTestEvent({ model: 'nope' })),
  line(decodeTestEvent({ id: 5 })),
  line(decodeTestEvent({ ts: 'yesterday' })),
  line(decodeTestEvent({ ts: 1_795_341_600 })), // epoch seconds
  line(decodeTestEvent({ ts: '2400-01-01T00:00:00Z' })),
  line(decodeTestEvent({ features: { income: 'high' } })),
  line(decodeTestEvent({ prediction: 'x' })),
  // Repeated key, escaped key, lone surrogate, nesting: the item-wide rules.
  '{"model":"credit-risk","version":"3","id":"d","ts":1795341600000,"features":{"income":1,"income":2}}',
  '{"model":"credit-risk","version":"3","id":"e\\u0041","ts":1795341600000,"features":{"inc\\u006fme":1}}',
  '{"model":"credit-risk","version":"3","id":"\\ud800","ts":1795341600000,"features":{"income":1}}',
  line(decodeTestEvent({ features: { income: 1, extra: { deep: [1, 2, { x: 'y' }] } } })),
  line({ ...decodeTestEvent(), ts: '2026-11-22T10:00:00.123+01:00' }),
];
// A line that is not UTF-8 (a stray 0xFF in its id).
const body = Buffer.concat([
  Buffer.from(`${lines.join('\n')}\n`),
  Buffer.from('{"model":"credit-risk","version":"3","id":"p-'),
  Buffer.from([0xff]),
  Buffer.from('","ts":1795341600000,"features":{"income":1}}\n'),
]);

/** What the windows and the store read of a decoded item. */
function view(d: Decoded<PredictionEvent>) {
  if (!d.ok) return d;
  const e = d.value;
  const features: Record<string, unknown> = {};
  for (const f of models.get(e.model)!.features) {
    if (e.features[f.name] !== undefined) features[f.name] = e.features[f.name];
  }
  return {
    model: e.model,
    version: e.version,
    id: e.id,
    ts: e.ts,
    features,
    prediction: e.prediction,
    raw: e.rawBytes !== undefined ? Buffer.from(e.rawBytes).toString('utf8') : e.raw,
  };
}

describe('replay decode thread', () => {
  it('decodes every line as the event loop does (events, reasons, messages with line numbers)', async () => {
    const pending = splitNdjson(body);
    expect(pending).toHaveLength(lines.length + 1);
    const decoder = createLineDecoder([...models.values()], createLogger('silent'));
    try {
      const items = await decoder.decode(pending);
      expect(items).toHaveLength(pending.length);
      let threaded = 0;
      for (let i = 0; i < pending.length; i++) {
        const item = items[i];
        if (item instanceof PredecodedItem) threaded++;
        else expect(item).toBe(pending[i]); // left to the event loop as the line it was
        const mine = decodePrediction(pending[i], opts);
        expect(view(decodePrediction(item, opts)), `line ${i + 1}`).toEqual(view(mine));
        // Only lines the event loop accepts come from the thread's answer.
        if (item instanceof PredecodedItem) expect(mine.ok).toBe(true);
      }
      expect(threaded).toBeGreaterThanOrEqual(7);
      const pii = decodePrediction(items[4], opts);
      expect(items[4]).not.toBeInstanceOf(PredecodedItem);
      expect(pii.ok && pii.value.features.region).not.toBe('EU'); // hashed here
    } finally {
      await decoder.close();
    }
  });

  it('hands the lines back as they were once the thread is gone', async () => {
    const pending = splitNdjson(body);
    const decoder = createLineDecoder([...models.values()], createLogger('silent'));
    await decoder.close();
    const items = await decoder.decode(pending);
    expect(items).toEqual(pending);
  });
});
