/**
 * What one ingested item may hold: the one place these limits are defined. The decoders
 * (src/ingest/decode.ts, the Kafka decode thread's scanner src/ingest/scan.ts) reject an item
 * outside them with a reason, so that an accepted item is certainly storable; the store's
 * encoder (src/store/sql.ts) refuses the same values with the same bounds, as a last guard.
 *
 * Lengths count UTF-16 code units (JavaScript's `length`): one per character for text of the
 * Basic Multilingual Plane, two for an emoji. The scanner reads only printable ASCII, where
 * that is one per byte.
 */

/**
 * The earliest and latest time a ClickHouse `DateTime64(3, 'UTC')` column holds: the engine
 * clamps values outside silently, so driftd refuses them (1900-01-01T00:00:00.000Z ..
 * 2299-12-31T23:59:59.999Z, in epoch milliseconds).
 */
export const EARLIEST_STORABLE_TS = Date.UTC(1900, 0, 1);
export const LATEST_STORABLE_TS = Date.UTC(2299, 11, 31, 23, 59, 59, 999);

/** Whether epoch milliseconds `ms` fit a DateTime64(3) column (NaN does not). */
export function isStorableTime(ms: number): boolean {
  return ms >= EARLIEST_STORABLE_TS && ms <= LATEST_STORABLE_TS;
}

/**
 * A numeric `ts` below this (1e11 ms, 1973-03-03T09:46:40Z) is taken for epoch seconds and
 * rejected: every epoch-seconds time from 1970 to the year 5138 lies below it, and no live
 * prediction is stamped in 1970–1973. Times before 1973 can still be sent as ISO 8601 text.
 */
export const MIN_EPOCH_MS = 1e11;

/**
 * Live sources (HTTP, Kafka) reject an event whose time is further ahead of the daemon's clock
 * than this (config `ingest.maxFutureSkew`): one such event would move its model version's
 * watermark and make every later on-time event late. Replay accepts any storable time.
 */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 60 * 60 * 1000;

/** `model`: a configured model id is at most 64 characters (see the config schema). */
export const MAX_MODEL_LENGTH = 64;
/** `version` of a prediction event. */
export const MAX_VERSION_LENGTH = 128;
/** `id` of a prediction event and of a label (the join key between the two). */
export const MAX_ID_LENGTH = 512;
/**
 * A string value of a categorical feature or of a categorical prediction, and a string label:
 * the texts windows count and the store indexes.
 */
export const MAX_CATEGORY_LENGTH = 256;

/**
 * Arrays and objects nested deeper than this anywhere in an item are refused (reason
 * `too_deep`): ClickHouse's JSON functions, which read the stored text for the exact recompute
 * and the audit route, stop at depth 1 024, and the decoders' walks of an item stay far from
 * the stack's limit (JSON.parse itself takes hundreds of thousands of levels).
 */
export const MAX_NESTING_DEPTH = 1000;

/**
 * Per-item errors one ingestion answer lists (HTTP events and labels, replay); the counts
 * (`rejected`) cover every item, the list stops here so that an answer stays small.
 */
export const MAX_ITEM_ERRORS = 1000;
