import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { CliError, EXIT } from "./cli_error.ts";
import { checkPullSource, describePull, pullDetail } from "./pull.ts";

Deno.test("checkPullSource accepts hf: files and quant tags", () => {
  checkPullSource("hf:acme/tiny-GGUF/tiny-Q8_0.gguf");
  checkPullSource("hf:acme/tiny-GGUF/sub/dir/tiny.gguf");
  checkPullSource("hf:acme/tiny-GGUF:Q4_K_M");
});

Deno.test("checkPullSource refuses other sources as usage errors naming the problem", () => {
  const cases: [string, RegExp][] = [
    ["tiny.gguf", /is a path in a model store/],
    ["hf:acme", /without a file or :QUANT/],
    ["hf:acme/x/../../etc.gguf", /escapes the model store/],
    ["hf:acme/x/readme.md", /does not end in \.gguf/],
    ["https://example.com/x.gguf", /unsupported scheme/],
  ];
  for (const [source, re] of cases) {
    const e = assertThrows(() => checkPullSource(source), re);
    assert(e instanceof CliError);
    assertEquals(e.exitCode, EXIT.usage, source);
  }
});

Deno.test("pullDetail shows sizes and rate, with or without a total", () => {
  assertEquals(
    pullDetail(1024 * 1024, 4 * 1024 * 1024, 512 * 1024),
    "1.0 MiB of 4.0 MiB, 512.0 KiB/s",
  );
  assertEquals(pullDetail(2048, null, 0), "2.0 KiB, 0 B/s");
});

Deno.test("describePull names the model, the neuron, the file and its checksum", () => {
  const r = {
    model: "tiny-GGUF/tiny-Q8_0",
    path_relative: "tiny-GGUF/tiny-Q8_0.gguf",
    size_bytes: 2048,
    sha256: "ab12",
    files: [{ path_relative: "tiny-GGUF/tiny-Q8_0.gguf", size_bytes: 2048, sha256: "ab12" }],
    already: false,
    node: "local",
  };
  assertEquals(
    describePull(r),
    "pulled tiny-GGUF/tiny-Q8_0 into local's store (tiny-GGUF/tiny-Q8_0.gguf, 2.0 KiB, sha256 ab12)",
  );
  assertEquals(
    describePull({
      ...r,
      already: true,
      node: null,
      sha256: null,
      files: [r.files[0], r.files[0]],
    }),
    "tiny-GGUF/tiny-Q8_0 is already in the store (2 files from tiny-GGUF/tiny-Q8_0.gguf, 2.0 KiB)",
  );
});
