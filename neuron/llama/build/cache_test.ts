import { assertEquals, assertThrows } from "../../../tests/assert.ts";
import { cacheRoot, releasePaths, variantName } from "./cache.ts";

Deno.test("cache root: CORTEX_CACHE_DIR, else XDG_CACHE_HOME/cortex, else ~/.cache/cortex", () => {
  const all = { CORTEX_CACHE_DIR: "/c", XDG_CACHE_HOME: "/x", HOME: "/h" };
  assertEquals(cacheRoot(all), "/c");
  assertEquals(cacheRoot({ ...all, CORTEX_CACHE_DIR: undefined }), "/x/cortex");
  assertEquals(cacheRoot({ HOME: "/h" }), "/h/.cache/cortex");
  assertThrows(() => cacheRoot({}), /set CORTEX_CACHE_DIR/);
});

Deno.test("cache layout: keyed by release, then variant; source, tarball and trees beside", () => {
  const p = releasePaths("/root/.cache/cortex");
  assertEquals(p.dir, "/root/.cache/cortex/llama/v0.4.0");
  assertEquals(p.tarball, "/root/.cache/cortex/llama/v0.4.0/node-llama-cpp-3.21.1.tgz");
  assertEquals(p.src, "/root/.cache/cortex/llama/v0.4.0/src");
  assertEquals(p.build("cpu-native"), "/root/.cache/cortex/llama/v0.4.0/build/cpu-native");
  assertEquals(p.install("cuda12-sm89"), "/root/.cache/cortex/llama/v0.4.0/cuda12-sm89");
});

Deno.test("variant names: backend, CUDA release and architecture, RPC", () => {
  assertEquals(variantName({ cuda: null, rpc: false }), "cpu-native");
  assertEquals(variantName({ cuda: null, rpc: true }), "cpu-native-rpc");
  assertEquals(variantName({ cuda: { major: 12, arch: "89" }, rpc: false }), "cuda12-sm89");
  assertEquals(
    variantName({ cuda: { major: 13, arch: "86+90a" }, rpc: true }),
    "cuda13-sm86+90a-rpc",
  );
});
