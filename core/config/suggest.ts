/** "Did you mean" for misspelt keys: the closest candidate by edit distance. */

/** Levenshtein distance; inputs are short key names, so the O(n·m) table is fine. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The candidate closest to `name`, or undefined when none is close enough to be
 * a plausible typo (distance at most a third of the longer name, min 1, and at
 * most `maxDistance`).
 */
export function closestName(
  name: string,
  candidates: Iterable<string>,
  maxDistance = 3,
): string | undefined {
  const needle = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(needle, c.toLowerCase());
    const limit = Math.min(
      maxDistance,
      Math.max(1, Math.floor(Math.max(needle.length, c.length) / 3)),
    );
    if (d <= limit && d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
