/** The example files at the repository root must load cleanly and stay in step with the schemas. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { loadCortexConfig } from "./cortex_config.ts";
import { loadModelsConfig } from "./models_config.ts";
import { loadNeuronConfig } from "./neuron_config.ts";
import { CortexConfigSchema } from "./cortex_config.ts";
import { ModelProfileSchema, SamplingSchema } from "./models_config.ts";
import { NeuronConfigSchema } from "./neuron_config.ts";
import { indexKeyLines } from "./toml_lines.ts";
import { schemaKeysAt } from "./validate.ts";

const root = (name: string) => fileURLToPath(new URL(`../../${name}`, import.meta.url));

/** Every key of the schema is mentioned in the example (set, or commented out with its name). */
function assertDocumentsKeys(text: string, keys: string[], file: string) {
  const index = indexKeyLines(text);
  const set = new Set([...index.keys()].map((k) => k.replace(/\[\d+\]/g, "").split(".").pop()));
  for (const key of keys) {
    assert.ok(
      set.has(key) || new RegExp(`^#\\s*${key} =`, "m").test(text),
      `${file} does not document ${key}`,
    );
  }
}

Deno.test("cortex.example.toml loads, with models.example.toml against its neurons", async () => {
  const cortex = await loadCortexConfig(root("cortex.example.toml"));
  assert.equal(cortex.neurons.length, 2);
  assert.equal(cortex.gateway.models, root("models.toml"));
  const models = await loadModelsConfig(root("models.example.toml"), {}, { cortex });
  assert.ok(models.models.length >= 2);
  assert.ok(models.models.some((m) => m.embeddings));
});

Deno.test("neuron.example.toml loads", async () => {
  const neuron = await loadNeuronConfig(root("neuron.example.toml"));
  assert.equal(neuron.listen, "127.0.0.1:13131");
  assert.deepEqual(neuron.model_dirs, [root("models")]);
});

Deno.test("the examples document every key", async () => {
  const cortexText = await Deno.readTextFile(root("cortex.example.toml"));
  for (const section of Object.keys(CortexConfigSchema.shape)) {
    const path = section === "neurons" ? [section, 0] : [section];
    const keys = schemaKeysAt(CortexConfigSchema, path);
    assert.ok(keys && keys.length > 0, section);
    assertDocumentsKeys(cortexText, [section, ...keys], "cortex.example.toml");
  }
  const modelsText = await Deno.readTextFile(root("models.example.toml"));
  assertDocumentsKeys(
    modelsText,
    [...Object.keys(ModelProfileSchema.shape), ...Object.keys(SamplingSchema.shape)],
    "models.example.toml",
  );
  const neuronText = await Deno.readTextFile(root("neuron.example.toml"));
  assertDocumentsKeys(neuronText, Object.keys(NeuronConfigSchema.shape), "neuron.example.toml");
});
