/** Tool-call ids (`call_…`), random by default and injectable for deterministic tests. */

/** Makes the id of the next tool call. */
export type ToolCallIdGenerator = () => string;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** `call_` + 24 random alphanumerics (about 143 bits), the shape OpenAI uses. */
export function randomToolCallId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  let s = "call_";
  // 256 % 62 leaves a tiny bias; irrelevant for an identifier.
  for (const b of bytes) s += ALPHABET[b % ALPHABET.length];
  return s;
}

/** A generator yielding `${prefix}0`, `${prefix}1`, …; each call makes an independent counter. */
export function sequentialToolCallIds(prefix = "call_"): ToolCallIdGenerator {
  let next = 0;
  return () => `${prefix}${next++}`;
}
