/**
 * Secret comparison in constant time. Both sides are hashed first so the
 * comparison time depends on neither the secret's length nor its content.
 */

import { createHash, timingSafeEqual } from "node:crypto";

const digest = (s: string) => createHash("sha256").update(s).digest();

export function secretEquals(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** True when `given` equals any key; every key is compared, whatever matches. */
export function matchesAnyKey(given: string, keys: readonly string[]): boolean {
  const d = digest(given);
  let ok = false;
  for (const k of keys) ok = timingSafeEqual(d, digest(k)) || ok;
  return ok;
}

/** The token of an `Authorization: Bearer …` header, or null. */
export function bearerToken(headers: { get(name: string): string | null }): string | null {
  const h = headers.get("authorization");
  if (!h) return null;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m ? m[1].trim() : null;
}
