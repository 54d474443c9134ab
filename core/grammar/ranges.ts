/**
 * Decimal numbers within bounds, as GBNF. Integers of any bounds; numbers when the bounds
 * are integers (written without exponent, which is a subset of the valid texts).
 *
 * Magnitudes are capped at 16 digits, like llama.cpp's `integral-part`, so unbounded
 * sides stay finite and exact.
 */

/** The largest magnitude we write: 16 nines. */
export const MAX_MAGNITUDE = 10n ** 16n - 1n;

const ANY_FRACTION = '("." [0-9]{1,16})?';
const ZERO_FRACTION = '("." [0]{1,16})?';
const NONZERO_FRACTION = '"." [0-9]{0,15} [1-9]';

function digitClass(from: number, to: number): string {
  return from === to ? `[${from}]` : `[${from}-${to}]`;
}

function anyDigits(n: number): string {
  return n === 1 ? "[0-9]" : `[0-9]{${n}}`;
}

function wrap(expr: string): string {
  return expr.includes(" | ") ? `(${expr})` : expr;
}

/** Digit strings of one length between x and y (same length, x <= y). */
function sameLength(x: string, y: string): string {
  if (x.length === 1) return digitClass(Number(x), Number(y));
  const rest = x.length - 1;
  if (x[0] === y[0]) return `"${x[0]}" ${wrap(sameLength(x.slice(1), y.slice(1)))}`;
  const alts: string[] = [];
  let from = Number(x[0]);
  let to = Number(y[0]);
  const low = /^0*$/.test(x.slice(1)) ? undefined : x;
  const high = /^9*$/.test(y.slice(1)) ? undefined : y;
  if (low) {
    alts.push(`[${low[0]}] ${wrap(sameLength(low.slice(1), "9".repeat(rest)))}`);
    from++;
  }
  if (high) to--;
  if (from <= to) alts.push(`${digitClass(from, to)} ${anyDigits(rest)}`);
  if (high) alts.push(`[${high[0]}] ${wrap(sameLength("0".repeat(rest), high.slice(1)))}`);
  return alts.join(" | ");
}

/** Canonical decimal texts (no leading zeros) of the integers a..b, 0 <= a <= b. */
export function nonNegativeRange(a: bigint, b: bigint): string {
  if (a < 0n || b < a) throw new RangeError(`bad range ${a}..${b}`);
  const alts: string[] = [];
  const minLen = a.toString().length;
  const maxLen = b.toString().length;
  let fullFrom: number | undefined; // a run of lengths covered completely
  const flushFull = (upTo: number) => {
    if (fullFrom === undefined) return;
    const lo = fullFrom - 1;
    const hi = upTo - 1;
    alts.push(
      lo === hi ? (lo === 0 ? "[1-9]" : `[1-9] ${anyDigits(lo)}`) : `[1-9] [0-9]{${lo},${hi}}`,
    );
    fullFrom = undefined;
  };
  for (let len = minLen; len <= maxLen; len++) {
    const lenLow = len === 1 ? 0n : 10n ** BigInt(len - 1);
    const lenHigh = 10n ** BigInt(len) - 1n;
    const lo = a > lenLow ? a : lenLow;
    const hi = b < lenHigh ? b : lenHigh;
    if (len > 1 && lo === lenLow && hi === lenHigh) {
      fullFrom ??= len;
      continue;
    }
    flushFull(len - 1);
    alts.push(sameLength(lo.toString(), hi.toString()));
  }
  flushFull(maxLen);
  return alts.join(" | ");
}

/** Integers lo..hi (either side open when undefined), as GBNF. Throws when empty. */
export function integerRange(lo: bigint | undefined, hi: bigint | undefined): string {
  const l = lo === undefined || lo < -MAX_MAGNITUDE ? -MAX_MAGNITUDE : lo;
  const h = hi === undefined || hi > MAX_MAGNITUDE ? MAX_MAGNITUDE : hi;
  if (l > h) throw new RangeError("no integer lies within the bounds");
  const alts: string[] = [];
  if (l < 0n) {
    const mLo = h < 0n ? -h : 1n;
    alts.push(`"-" ${wrap(nonNegativeRange(mLo, -l))}`);
  }
  if (h >= 0n) alts.push(nonNegativeRange(l > 0n ? l : 0n, h));
  return alts.join(" | ");
}

/** One side of a numeric interval. */
export interface Bound {
  value: bigint;
  exclusive: boolean;
}

/** Magnitudes m with lo (<|<=) m (<|<=) hi, 0 <= lo; hi undefined means unbounded. */
function magnitude(lo: Bound, hi: Bound | undefined): string[] {
  const alts: string[] = [];
  if (hi && hi.value < lo.value) return alts;
  if (hi && hi.value === lo.value) {
    if (!lo.exclusive && !hi.exclusive) alts.push(`"${lo.value}" ${ZERO_FRACTION}`);
    return alts;
  }
  if (lo.exclusive) alts.push(`"${lo.value}" ${NONZERO_FRACTION}`);
  const firstInt = lo.exclusive ? lo.value + 1n : lo.value;
  const lastInt = hi ? hi.value - 1n : MAX_MAGNITUDE;
  if (firstInt <= lastInt) {
    alts.push(`${wrap(nonNegativeRange(firstInt, lastInt))} ${ANY_FRACTION}`);
  }
  if (hi && !hi.exclusive) alts.push(`"${hi.value}" ${ZERO_FRACTION}`);
  return alts;
}

/**
 * Numbers within integer bounds (either side open when undefined), as GBNF. Throws when
 * the interval is empty.
 */
export function numberRange(lo: Bound | undefined, hi: Bound | undefined): string {
  const alts: string[] = [];
  // x >= 0
  if (hi === undefined || hi.value > 0n || (hi.value === 0n && !hi.exclusive)) {
    const from: Bound = lo && lo.value >= 0n ? lo : { value: 0n, exclusive: false };
    alts.push(...magnitude(from, hi));
  }
  // x < 0, written as "-" and its magnitude
  if (lo === undefined || lo.value < 0n) {
    const mFrom: Bound = hi && hi.value < 0n
      ? { value: -hi.value, exclusive: hi.exclusive }
      : { value: 0n, exclusive: true };
    const mTo: Bound | undefined = lo ? { value: -lo.value, exclusive: lo.exclusive } : undefined;
    const neg = magnitude(mFrom, mTo);
    if (neg.length) alts.push(`"-" (${neg.join(" | ")})`);
  }
  if (!alts.length) throw new RangeError("no number lies within the bounds");
  return alts.join(" | ");
}
