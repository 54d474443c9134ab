/**
 * Prompt-lookup drafting: the tokens that followed the most recent earlier occurrence of the
 * sequence's last n tokens. Agents repeat long spans of their context (file contents, diffs),
 * and there the continuation of a matching n-gram is usually the continuation that comes.
 */

/** Longest n-gram looked for; a match this long is taken at once. */
const NGRAM_MAX = 4;
/** Shortest n-gram that may draft: single tokens match too often to be worth verifying. */
const NGRAM_MIN = 2;

/**
 * Up to `max` tokens continuing `history` (prompt + output so far, the last token included),
 * taken after the most recent earlier occurrence of its longest suffix of NGRAM_MIN..NGRAM_MAX
 * tokens. Empty when nothing matches. One backward pass over the history.
 */
export function lookupDraft(history: ArrayLike<number>, max: number): number[] {
  const n = history.length;
  if (max <= 0 || n < NGRAM_MIN + 1) return [];
  const last = history[n - 1];
  let bestAt = -1;
  let bestLen = NGRAM_MIN - 1;
  for (let j = n - 2; j >= 0; j--) {
    if (history[j] !== last) continue;
    // Length of the common suffix of history[..j] and history[..n-1], capped at NGRAM_MAX.
    let m = 1;
    while (m < NGRAM_MAX && j - m >= 0 && history[j - m] === history[n - 1 - m]) m++;
    if (m > bestLen) {
      bestLen = m;
      bestAt = j;
      if (m === NGRAM_MAX) break;
    }
  }
  if (bestAt < 0) return [];
  const out: number[] = [];
  for (let i = bestAt + 1; i < n && out.length < max; i++) out.push(history[i]);
  return out;
}
