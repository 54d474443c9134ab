/**
 * How deeply free-form JSON in a request nests (JSON Schemas, tool-call arguments, template
 * variables). Code that walks such values recursively (the JSON Schema → GBNF converter,
 * the chat template's `tojson`) would overflow the stack on a document nested thousands of
 * levels deep, which a few kilobytes of request body can hold; requests are refused above
 * this bound instead. Both measures here run without recursion.
 */

/** The deepest nesting of objects and arrays cortex accepts in free-form request JSON. */
export const MAX_JSON_DEPTH = 64;

/**
 * Nesting depth of objects and arrays in a parsed value: 0 for a scalar, 1 for `{}` or
 * `[1]`, 2 for `{"a": []}`. Stops as soon as it passes `limit` (returning a value above it).
 */
export function jsonDepth(value: unknown, limit = Infinity): number {
  if (value === null || typeof value !== "object") return 0;
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (d > max) {
      max = d;
      if (max > limit) return max;
    }
    const children = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
    for (const c of children) {
      if (c !== null && typeof c === "object") stack.push([c, d + 1]);
    }
  }
  return max;
}

/**
 * Nesting depth of the objects and arrays in JSON text, without parsing it (brackets inside
 * strings do not count). Text that is not JSON gets the depth its brackets suggest.
 */
export function jsonTextDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** The message for a value nested deeper than `MAX_JSON_DEPTH`. */
export function tooDeepMessage(limit = MAX_JSON_DEPTH): string {
  return `is nested more than ${limit} levels deep (objects and arrays); cortex accepts at most ${limit}`;
}
