import { assertEquals } from "../tests/assert.ts";
import { bearerToken, matchesAnyKey, secretEquals } from "./auth.ts";

Deno.test("secretEquals compares exactly", () => {
  assertEquals(secretEquals("s3cret", "s3cret"), true);
  assertEquals(secretEquals("s3cret", "s3cre"), false);
  assertEquals(secretEquals("", "x"), false);
});

Deno.test("matchesAnyKey finds a key among several", () => {
  assertEquals(matchesAnyKey("b", ["a", "b", "c"]), true);
  assertEquals(matchesAnyKey("d", ["a", "b", "c"]), false);
  assertEquals(matchesAnyKey("a", []), false);
});

Deno.test("bearerToken parses the header case-insensitively", () => {
  assertEquals(bearerToken(new Headers({ authorization: "Bearer abc" })), "abc");
  assertEquals(bearerToken(new Headers({ authorization: "bearer  abc " })), "abc");
  assertEquals(bearerToken(new Headers({ authorization: "Basic abc" })), null);
  assertEquals(bearerToken(new Headers()), null);
});
