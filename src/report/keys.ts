/** Epoch ms as ISO-8601 text (the report's one time format); a time Date cannot hold as its number. */
export const iso = (ms: number) => {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
};

/** The key of a version's series of one window size. */
export const seriesKey = (r: { version: string; sizeLabel: string }) =>
  `${r.version}\u0000${r.sizeLabel}`;
