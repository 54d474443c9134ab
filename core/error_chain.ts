/**
 * One line that says why something failed, from an error and its `cause`
 * chain. `fetch` in Deno says "fetch failed" and keeps the reason in its
 * cause, behind transport wrappers ("error sending request for url (…):
 * client error (Connect): tcp connect error: Connection refused"); people
 * need the reason, once.
 */

/** Wrappers around the reason that say nothing a person can act on. */
const NOISE = [
  /^error sending request(?: from \S+)? for (?:url )?\(?[^)]*\)?(?: \([^)]*\))?: /,
  /^client error \([A-Za-z]+\): /,
];

function clean(message: string): string {
  let m = message.trim();
  for (let changed = true; changed;) {
    changed = false;
    for (const re of NOISE) {
      const next = m.replace(re, "");
      if (next !== m) [m, changed] = [next, true];
    }
  }
  return m;
}

/** `e`'s message followed by its causes' (`a: b: c`), repeats and wrappers left out. */
export function errorChain(e: unknown, maxDepth = 5): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < maxDepth && cur != null; i++) {
    const msg = clean(cur instanceof Error ? cur.message : String(cur));
    // A cause that repeats its wrapper's text (or is already inside it) adds nothing.
    if (msg && !parts.some((p) => p.includes(msg))) {
      const last = parts.length - 1;
      if (last >= 0 && msg.includes(parts[last])) parts[last] = msg;
      else parts.push(msg);
    }
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  // "fetch failed" is only a wrapper when its cause says why.
  if (parts.length > 1 && parts[0] === "fetch failed") parts.shift();
  return parts.join(": ") || "unknown error";
}
