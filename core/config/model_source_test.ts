import assert from "node:assert/strict";
import { parseModelSource } from "./model_source.ts";

Deno.test("parseModelSource reads store paths and both hf: forms", () => {
  assert.deepEqual(parseModelSource("qwen3-8b-q4_k_m.gguf"), {
    kind: "file",
    path: "qwen3-8b-q4_k_m.gguf",
  });
  assert.deepEqual(parseModelSource("qwen/Qwen3-8B.GGUF"), {
    kind: "file",
    path: "qwen/Qwen3-8B.GGUF",
  });
  assert.deepEqual(parseModelSource("hf:org/repo/file.gguf"), {
    kind: "hf",
    repo: "org/repo",
    file: "file.gguf",
  });
  assert.deepEqual(parseModelSource("hf:org/repo/sub/file.gguf"), {
    kind: "hf",
    repo: "org/repo",
    file: "sub/file.gguf",
  });
  assert.deepEqual(parseModelSource("hf:unsloth/Qwen3-8B-GGUF:UD-Q4_K_XL"), {
    kind: "hf",
    repo: "unsloth/Qwen3-8B-GGUF",
    quant: "UD-Q4_K_XL",
  });
});

Deno.test("parseModelSource refuses anything that could leave the store", () => {
  assert.throws(() => parseModelSource("../x.gguf"), /escapes the model store/);
  assert.throws(() => parseModelSource("a/../../x.gguf"), /escapes the model store/);
  assert.throws(() => parseModelSource("a\\..\\x.gguf"), /escapes the model store/);
  assert.throws(() => parseModelSource("/etc/passwd"), /absolute/);
  assert.throws(() => parseModelSource("C:\\models\\x.gguf"), /absolute/);
  assert.throws(() => parseModelSource("~/x.gguf"), /absolute/);
  assert.throws(() => parseModelSource("hf:org/repo/../x.gguf"), /escapes the model store/);
  assert.throws(() => parseModelSource("hf:../repo/x.gguf"), /org\/repo/);
});

Deno.test("parseModelSource names other mistakes", () => {
  assert.throws(() => parseModelSource("x.bin"), /\.gguf/);
  assert.throws(() => parseModelSource(""), /empty/);
  assert.throws(() => parseModelSource("a//x.gguf"), /empty segment/);
  assert.throws(() => parseModelSource("hf:org/repo"), /without a file or :QUANT/);
  assert.throws(() => parseModelSource("hf:org:Q4"), /org\/repo/);
  assert.throws(() => parseModelSource("hf:org/repo:"), /quantisation/);
  assert.throws(() => parseModelSource("https://x/y.gguf"), /unsupported scheme "https:"/);
});
