import { assertEquals } from "../tests/assert.ts";
import { accessOf } from "./access.ts";

const h = (key?: string) => new Headers(key ? { authorization: `Bearer ${key}` } : {});

Deno.test("accessOf: no keys configured is open to all", () => {
  assertEquals(accessOf({ apiKeys: [], adminKeys: [] }, h()), "admin");
});

Deno.test("accessOf: API keys administer only while no operator keys exist", () => {
  assertEquals(accessOf({ apiKeys: ["a"], adminKeys: [] }, h("a")), "admin");
  assertEquals(accessOf({ apiKeys: ["a"], adminKeys: ["o"] }, h("a")), "api");
  assertEquals(accessOf({ apiKeys: ["a"], adminKeys: ["o"] }, h("o")), "admin");
  assertEquals(accessOf({ apiKeys: [], adminKeys: ["o"] }, h("o")), "admin");
});

Deno.test("accessOf: a missing or unknown key is nobody; x-api-key counts as well", () => {
  const keys = { apiKeys: ["a"], adminKeys: ["o"] };
  assertEquals(accessOf(keys, h()), "none");
  assertEquals(accessOf(keys, h("x")), "none");
  assertEquals(accessOf(keys, new Headers({ "x-api-key": "o" })), "admin");
  assertEquals(accessOf({ apiKeys: [], adminKeys: ["o"] }, h()), "none", "open only without keys");
});
