import { assert, assertEquals } from "../../tests/assert.ts";
import { ensureFixture, FIXTURES } from "../../tests/fixtures/mod.ts";
import { metaString, readGgufHeader } from "./gguf_header.ts";
import { modelFacts, summarize } from "./summary.ts";

Deno.test("summarize: the chat template's text, parameter count and file type of a fixture", async () => {
  const h = await readGgufHeader(await ensureFixture(FIXTURES.think));
  const s = summarize(h, 1);
  assertEquals(s.chatTemplate, metaString(h, "tokenizer.chat_template"));
  assert((s.chatTemplate ?? "").includes("messages"), "a Jinja template");
  assert(s.parameterCount !== null && s.parameterCount > 0);
  assertEquals(s.quantization, "F16");
  assertEquals(modelFacts(s), {
    architecture: "llama",
    parameter_count: s.parameterCount,
    quantization: "F16",
  });
});

Deno.test("summarize: what the header does not say stays unknown", async () => {
  const h = await readGgufHeader(await ensureFixture(FIXTURES.plain));
  const bare = new Map(h.metadata);
  bare.delete("general.file_type");
  bare.delete("tokenizer.chat_template");
  bare.set("split.count", 3); // one part of a split model: its tensors are not all the weights
  const s = summarize({ ...h, metadata: bare }, 1);
  assertEquals([s.chatTemplate, s.parameterCount, s.quantization], [null, null, null]);
  assertEquals(modelFacts(s), { architecture: "llama" });
  assertEquals(modelFacts(null), {});
});
