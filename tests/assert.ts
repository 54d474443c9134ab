/**
 * Assertions for tests. JSR's @std/assert is unreachable here, so this wraps
 * node:assert/strict with the names Deno code usually uses.
 */
import assert from "node:assert/strict";

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  assert.deepStrictEqual(actual, expected, msg);
}
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  assert.notDeepStrictEqual(actual, expected, msg);
}
export function assert_(cond: unknown, msg?: string): asserts cond {
  assert.ok(cond, msg);
}
export { assert_ as assert };
export function assertMatch(actual: string, re: RegExp, msg?: string): void {
  assert.match(actual, re, msg);
}
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  assert.ok(
    actual.includes(expected),
    msg ?? `expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
  );
}
export async function assertRejects(
  fn: () => Promise<unknown>,
  matcher?: RegExp | ((e: Error) => boolean),
): Promise<Error> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error, "expected the promise to reject");
  if (matcher instanceof RegExp) assert.match((err as Error).message, matcher);
  else if (matcher) assert.ok(matcher(err as Error), `unexpected error: ${(err as Error).message}`);
  return err as Error;
}
export function assertThrows(fn: () => unknown, matcher?: RegExp): Error {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error, "expected a throw");
  if (matcher) assert.match((err as Error).message, matcher);
  return err as Error;
}
