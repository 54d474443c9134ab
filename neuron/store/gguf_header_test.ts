import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { ensureFixture, FIXTURES } from "../../tests/fixtures/mod.ts";
import { GgufError, metaNumber, metaString, readGgufHeader } from "./gguf_header.ts";

Deno.test("readGgufHeader: a fixture's metadata, numbers, strings and arrays", async () => {
  const h = await readGgufHeader(await ensureFixture(FIXTURES.plain));
  assertEquals(h.version, 3);
  assert(h.tensorCount > 0);
  assertEquals(metaString(h, "general.architecture"), "llama");
  assert((metaNumber(h, "llama.context_length") ?? 0) > 0);
  assert(Array.isArray(h.metadata.get("tokenizer.ggml.tokens")));
  assertEquals(h.metadata.has("version"), false, "the header's own fields are not metadata");
});

Deno.test("readGgufHeader: a file that is not GGUF is a GgufError naming it", async () => {
  const path = await Deno.makeTempFile({ suffix: ".gguf" });
  try {
    await Deno.writeTextFile(path, "not a gguf file at all, just some text");
    await assertRejects(
      () => readGgufHeader(path),
      (e) => e instanceof GgufError && e.message.includes(path),
    );
  } finally {
    await Deno.remove(path);
  }
});
