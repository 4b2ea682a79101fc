/**
 * driftd/window: event-time tumbling windows, their mergeable state, and the drift verdict of
 * a closed window. Pure: no I/O, no timers; time comes from an injected clock.
 */
export {
  type BinnedSide,
  type BinnedWasserstein,
  type BinnedWindow,
  binnedWasserstein,
} from '../stats/binned-wasserstein.js';
export {
  type EvaluableWindow,
  evaluateWindow,
  nullWarmups,
  resolveTest,
} from './evaluate.js';
export {
  countStoredOutcomes,
  evaluateWindowFairness,
  isSelected,
  type StoredOutcomes,
  storedOutcomeQuery,
  type WindowFairnessSnapshot,
} from './fairness.js';
export {
  checkTimeZone,
  previousWindow,
  type WindowGrid,
  type WindowSpan,
  windowAt,
  windowGrid,
  windowKey,
  windowName,
  windowStart,
} from './identity.js';
export {
  type Clock,
  type ClosedWindow,
  type CloseReason,
  createWindowManager,
  type LaneSnapshot,
  type LateTotal,
  type LateWindow,
  laneOf,
  type RecordResult,
  type SizeSnapshot,
  type StreamSnapshot,
  type VersionProgress,
  type WindowManager,
  type WindowManagerOptions,
  type WindowManagerSnapshot,
} from './manager.js';
export { evaluateSegments } from './segment-results.js';
export {
  OTHER_SEGMENT,
  segmentName,
} from './segments.js';
export {
  createWindowState,
  type FeatureSketch,
  type OffsetRange,
  type RecordMeta,
  type SegmentWindow,
  type WindowState,
  type WindowStateOptions,
  type WindowStateSnapshot,
} from './state.js';
