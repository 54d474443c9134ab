import assert from "node:assert/strict";
import { ConfigError } from "./config_error.ts";
import { parseCortexConfig } from "./cortex_config.ts";
import { checkModelsAgainstNeurons, loadModelsConfig, parseModelsConfig } from "./models_config.ts";

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("models: defaults fill every optional key", () => {
  const m = parseModelsConfig(`[[models]]\nid = "q"\nsource = "q.gguf"\n`);
  assert.deepEqual(m.models, [{
    id: "q",
    source: "q.gguf",
    aliases: [],
    pinned_on: [],
    residency_priority: 0,
    pinned: false,
    embeddings: false,
    sampling: {},
  }]);
  assert.deepEqual(parseModelsConfig(""), { models: [] });
});

Deno.test("models: a full profile parses", () => {
  const m = parseModelsConfig(`[[models]]
id = "qwen3-8b"
source = "hf:Qwen/Qwen3-8B-GGUF:Q4_K_M"
aliases = ["qwen3"]
pinned_on = ["gpu-1"]
residency_priority = -2
vram_mb = 6000
context_length = 8192
parallel = 2
max_output_tokens = 512
embeddings = true
[models.sampling]
temperature = 0.7
top_k = 0
seed = 4294967295
`);
  const p = m.models[0];
  assert.equal(p.residency_priority, -2);
  assert.equal(p.vram_mb, 6000);
  assert.equal(p.embeddings, true);
  assert.deepEqual(p.sampling, { temperature: 0.7, top_k: 0, seed: 4294967295 });
});

Deno.test("models: an alias colliding with an id names both", () => {
  const e = configError(() =>
    parseModelsConfig(`[[models]]
id = "a"
source = "a.gguf"

[[models]]
id = "b"
source = "b.gguf"
aliases = ["fast", "a"]
`)
  );
  assert.equal(
    e.message,
    'models.toml:8: models[1].aliases[1]: expected an alias not used as a model id, found "a", the id of models[0]',
  );
});

Deno.test("models: duplicate ids and aliases are reported", () => {
  const e = configError(() =>
    parseModelsConfig(`[[models]]
id = "a"
source = "a.gguf"
aliases = ["x"]
[[models]]
id = "a"
source = "b.gguf"
aliases = ["x"]
`)
  );
  assert.deepEqual(e.issues.map((i) => i.message), [
    'models.toml:6: models[1].id: expected an id not used by another model, found "a", already the id of models[0]',
    'models.toml:8: models[1].aliases[0]: expected an alias not used by another model, found "x", already an alias at models[0].aliases[0]',
  ]);
});

Deno.test("models: sources escaping the store are refused", () => {
  const e = configError(() =>
    parseModelsConfig(`[[models]]
id = "a"
source = "../x.gguf"
[[models]]
id = "b"
source = "/etc/passwd"
`)
  );
  const expected =
    'a .gguf path inside the model store (e.g. "qwen3-8b-q4_k_m.gguf"), "hf:org/repo/file.gguf" or "hf:org/repo:QUANT"';
  assert.deepEqual(e.issues.map((i) => i.message), [
    `models.toml:3: models[0].source: expected ${expected}, found "../x.gguf" (a ".." segment that escapes the model store)`,
    `models.toml:6: models[1].source: expected ${expected}, found "/etc/passwd" (an absolute path)`,
  ]);
});

Deno.test("models: required keys, ranges and unknown sampling keys", () => {
  const e = configError(() =>
    parseModelsConfig(`[[models]]
id = "a"
vram_mb = 0
[models.sampling]
temperature = 9
temprature = 1
`)
  );
  assert.deepEqual(e.issues.map((i) => i.message), [
    "models.toml:1: models[0].source: " +
    'expected a .gguf path inside the model store (e.g. "qwen3-8b-q4_k_m.gguf"), "hf:org/repo/file.gguf" or "hf:org/repo:QUANT", found nothing (the key is missing)',
    "models.toml:3: models[0].vram_mb: expected an integer >= 1, found 0",
    "models.toml:5: models[0].sampling.temperature: expected a number from 0 to 5, found 9",
    "models.toml:6: models[0].sampling.temprature: expected a known key of models[0].sampling " +
    "(temperature, top_p, top_k, min_p, repeat_penalty, presence_penalty, frequency_penalty, seed), " +
    'found unknown key "temprature"; did you mean "temperature"?',
  ]);
});

Deno.test("models: [models] written as a single table is explained", () => {
  const e = configError(() => parseModelsConfig(`[models]\nid = "a"\n`));
  assert.equal(
    e.message,
    "models.toml:1: models: expected an array of tables ([[models]]), found a table",
  );
});

Deno.test("models env: CORTEX_MODELS__<i>__KEY overrides, other CORTEX_ keys are ignored", () => {
  const m = parseModelsConfig(`[[models]]\nid = "a"\nsource = "a.gguf"\n`, "models.toml", {
    CORTEX_MODELS__0__VRAM_MB: "9000",
    CORTEX_MODELS__0__PINNED_ON: '["gpu-1"]',
    CORTEX_MODELS__0__SAMPLING__TEMPERATURE: "0.2",
    CORTEX_GATEWAY__LISTEN: ":1",
  });
  assert.equal(m.models[0].vram_mb, 9000);
  assert.deepEqual(m.models[0].pinned_on, ["gpu-1"]);
  assert.equal(m.models[0].sampling.temperature, 0.2);

  const e = configError(() =>
    parseModelsConfig(`[[models]]\nid = "a"\nsource = "a.gguf"\n`, "models.toml", {
      CORTEX_MODELS__0__SOURCE: "../../etc/x.gguf",
    })
  );
  assert.match(
    e.message,
    /^models\.toml: models\[0\]\.source \(set by CORTEX_MODELS__0__SOURCE\): expected /,
  );
});

Deno.test("checkModelsAgainstNeurons reports unknown pinned_on names", () => {
  const cortex = parseCortexConfig(`[[neurons]]
name = "gpu-1"
endpoint = "http://a:1"
[[neurons]]
name = "gpu-2"
endpoint = "http://b:1"
`);
  const text = `[[models]]
id = "a"
source = "a.gguf"
pinned_on = ["gpu-1", "gpu-9"]
`;
  const models = parseModelsConfig(text);
  const e = configError(() => checkModelsAgainstNeurons(models, cortex));
  assert.equal(
    e.message,
    'models.toml: models[0].pinned_on[1]: expected a neuron named in cortex.toml (gpu-1, gpu-2), found "gpu-9"',
  );
  // Parsing with the cortex config runs the same check with line numbers.
  const withLines = configError(() => parseModelsConfig(text, "conf/models.toml", {}, { cortex }));
  assert.equal(withLines.line, 4);
  assert.match(withLines.message, /^conf\/models\.toml:4: models\[0\]\.pinned_on\[1\]: /);
  // Known names pass; with no neurons (embedded mode) pins are not checked.
  checkModelsAgainstNeurons(
    parseModelsConfig(`[[models]]\nid="a"\nsource="a.gguf"\npinned_on=["gpu-2"]\n`),
    cortex,
  );
  checkModelsAgainstNeurons(models, parseCortexConfig(""));
});

Deno.test("loadModelsConfig: empty catalogue without a path; reads a file", async () => {
  assert.deepEqual(await loadModelsConfig(undefined), { models: [] });
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/models.toml`, `[[models]]\nid = "a"\nsource = "a.gguf"\n`);
    assert.equal((await loadModelsConfig(`${dir}/models.toml`)).models[0].id, "a");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("models: speculation keys parse, and drafting without a draft names the key", () => {
  const m = parseModelsConfig(`[[models]]
id = "big"
source = "big.gguf"
draft = "small"
draft_max = 8
draft_min_p = 0.5

[[models]]
id = "other"
source = "other.gguf"
speculative = "ngram"
`);
  assert.equal(m.models[0].draft, "small");
  assert.equal(m.models[0].draft_max, 8);
  assert.equal(m.models[0].draft_min_p, 0.5);
  assert.equal(m.models[1].speculative, "ngram");
  const e = configError(() =>
    parseModelsConfig(`[[models]]\nid = "a"\nsource = "a.gguf"\nspeculative = "draft"\n`)
  );
  assert.match(e.message, /models\.toml:4: models\[0\]\.speculative: expected "ngram" or "off"/);
  const bad = configError(() =>
    parseModelsConfig(`[[models]]\nid = "a"\nsource = "a.gguf"\nspeculative = "eagle"\n`)
  );
  assert.match(bad.message, /speculative/);
  assert.match(
    configError(() => parseModelsConfig(`[[models]]\nid = "a"\nsource = "a.gguf"\ndraft_max = 0\n`))
      .message,
    /draft_max/,
  );
  // The neuron refuses every load of a draft with a split: said at startup instead.
  for (const split of ['split = "layer"', 'devices = ["CPU", "RPC0"]']) {
    const e = configError(() =>
      parseModelsConfig(`[[models]]\nid = "a"\nsource = "a.gguf"\ndraft = "d"\n${split}\n`)
    );
    assert.match(
      e.message,
      /models\.toml:4: models\[0\]\.draft: expected no draft model on a split model .*found draft with `(split|devices)`/,
    );
  }
});

Deno.test("models: a profile may ask for a split; tensor_split needs devices, one share each", () => {
  const ok = parseModelsConfig(`[[models]]
id = "big"
source = "big.gguf"
split = "layer"
devices = ["CUDA0", "CUDA1"]
tensor_split = [1, 2]
`);
  assert.equal(ok.models[0].split, "layer");
  assert.deepEqual(ok.models[0].devices, ["CUDA0", "CUDA1"]);
  assert.deepEqual(ok.models[0].tensor_split, [1, 2]);
  const e = configError(() =>
    parseModelsConfig(`[[models]]
id = "a"
source = "a.gguf"
tensor_split = [1, 2]

[[models]]
id = "b"
source = "b.gguf"
devices = ["CUDA0", "CUDA1"]
tensor_split = [1]
split = "column"
`)
  );
  const messages = e.issues.map((i) => i.message).join("\n");
  assert.match(messages, /models\[0\]\.tensor_split: expected devices beside it/);
  assert.match(messages, /models\[1\]\.tensor_split: expected 2 shares, one per entry of devices/);
  assert.match(messages, /models\[1\]\.split: expected one of "layer", "row"/);
});

Deno.test("models: a split profile names each device once, shares above 0, and no draft", () => {
  const e = configError(() =>
    parseModelsConfig(`[[models]]
id = "a"
source = "a.gguf"
devices = ["CUDA0", "CUDA1", "CUDA0"]

[[models]]
id = "b"
source = "b.gguf"
devices = ["CUDA0", "CUDA1"]
tensor_split = [1, 0]

[[models]]
id = "c"
source = "c.gguf"
split = "layer"
draft = "small"
`)
  );
  const messages = e.issues.map((i) => i.message).join("\n");
  assert.match(
    messages,
    /models\[0\]\.devices: expected each device named once, found "CUDA0" twice/,
  );
  assert.match(messages, /models\[1\]\.tensor_split\[1\]: expected a share above 0/);
  assert.match(messages, /models\[2\]\.split: expected no split beside a draft model/);
  assert.match(messages, /^models\.toml:\d+: /m);
});
