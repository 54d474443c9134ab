import { assertEquals, assertMatch } from "../tests/assert.ts";
import { CatalogueModelSchema } from "../core/gateway/schemas.ts";
import { canonicalModels, renderModels } from "./models.ts";

Deno.test("models: alias entries fold into their model's row", () => {
  const data = [
    { id: "qwen", aliases: ["fast"], state: "loaded", loaded_on: ["a", "b"], context_length: 8192 },
    { id: "fast", alias_of: "qwen", aliases: ["fast"], state: "loaded", context_length: 8192 },
    { id: "big", aliases: [], state: "available", available_on: ["a"], context_length: null },
  ].map((m) => CatalogueModelSchema.parse(m));
  const models = canonicalModels(data);
  assertEquals(models.map((m) => m.id), ["qwen", "big"]);
  const text = renderModels(models);
  assertMatch(text, /^qwen\s+fast\s+loaded\s+a, b\s+-\s+8192$/m);
  assertMatch(text, /^big\s+-\s+available\s+-\s+a\s+-$/m);
  assertMatch(renderModels([]), /^no models/);
});
