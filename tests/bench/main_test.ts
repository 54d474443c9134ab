import { assert, assertEquals } from "../assert.ts";
import { dispatch, listBenches } from "./main.ts";

Deno.test("benchmarks are the .ts files beside the dispatcher", () => {
  const names = listBenches();
  assert(names.includes("engine"), names.join(","));
  assert(!names.includes("main") && !names.some((n) => n.endsWith("_test")));
});

Deno.test("an unknown or missing benchmark name is a usage error", async () => {
  assertEquals(await dispatch(["no_such_bench"]), 2);
  assertEquals(await dispatch([]), 2);
  assertEquals(await dispatch(["--help"]), 0);
});

Deno.test("flags after the name reach the benchmark", async () => {
  // The engine benchmark answers --help without loading anything.
  assertEquals(await dispatch(["engine", "--help"]), 0);
  assertEquals(await dispatch(["engine", "--rounds", "0"]), 2);
});
