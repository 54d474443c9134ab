/**
 * Durations in config files: "250ms", "30s", "5m", "1h", "1h30m", "1.5s", "2d",
 * or a bare number meaning seconds. Parsed to whole milliseconds.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * The largest duration accepted: timers (setTimeout) fire at once for delays
 * above 2^31-1 ms, which would turn a long TTL into an immediate one.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const PART = /(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)/gy;

export const DURATION_EXPECTED =
  'a duration like "250ms", "30s", "5m", "1h30m" or a number of seconds';

/**
 * Parses a duration to milliseconds (rounded to the nearest millisecond).
 * Throws a RangeError describing the problem when the value is not a duration.
 */
export function parseDuration(value: unknown): number {
  let ms: number;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError("not a finite number");
    if (value < 0) throw new RangeError("a negative duration");
    ms = value * 1000;
  } else if (typeof value === "string") {
    const text = value.trim();
    if (text === "0") return 0;
    if (text === "") throw new RangeError("an empty string");
    if (/^\d+(\.\d+)?$/.test(text)) {
      throw new RangeError('a number without a unit (write "30s", or 30 without quotes)');
    }
    ms = 0;
    const seen = new Set<string>();
    PART.lastIndex = 0;
    let consumed = 0;
    for (let m = PART.exec(text); m !== null; m = PART.exec(text)) {
      const unit = m[2];
      if (seen.has(unit)) throw new RangeError(`the unit "${unit}" twice`);
      seen.add(unit);
      ms += Number(m[1]) * UNIT_MS[unit];
      consumed = PART.lastIndex;
    }
    if (consumed !== text.length) throw new RangeError("an unrecognised duration");
  } else {
    throw new RangeError("not a string or number");
  }
  const rounded = Math.round(ms);
  if (rounded > MAX_DURATION_MS) throw new RangeError("longer than 24 days (the timer limit)");
  return rounded;
}

/** Formats milliseconds compactly ("1h30m", "250ms"); the inverse of `parseDuration` for whole values. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = Math.round(ms);
  let out = "";
  for (
    const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], [
      "s",
      1_000,
    ]] as const
  ) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}
