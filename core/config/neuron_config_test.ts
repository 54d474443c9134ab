import assert from "node:assert/strict";
import { ConfigError } from "./config_error.ts";
import { loadNeuronConfig, parseNeuronConfig } from "./neuron_config.ts";

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("neuron defaults", async () => {
  const expected = {
    listen: "127.0.0.1:13131",
    model_dirs: ["./models"],
    memory_budget_mb: {},
    // No slots / context: fitted to the model and the device at load (neuron/store/fit.ts).
    kv_cache_type: "f16",
    n_batch: 512,
    max_queue: 64,
    rpc_servers: [],
    max_body_bytes: 8 * 1024 * 1024,
  };
  // Without a file nothing is resolved: paths stay relative to the working directory.
  assert.deepEqual(await loadNeuronConfig(undefined), expected);
  // With one, relative paths (defaults included) sit next to it.
  assert.deepEqual(parseNeuronConfig("", "/etc/cortex/neuron.toml"), {
    ...expected,
    model_dirs: ["/etc/cortex/models"],
  });
});

Deno.test("neuron: a full file parses", () => {
  const n = parseNeuronConfig(
    `
listen = ":13131"
model_dirs = ["/srv/models", "extra"]
devices = ["CUDA0", "CPU"]
memory_budget_mb = { CPU = 2048, CUDA0 = 20000 }
slots = 2
context = 8192
n_threads = 1
n_threads_batch = 2
n_batch = 256
max_queue = 0
token = "s3cret"
library_path = "lib"
max_body_bytes = 1024
log_level = "debug"
`,
    "/opt/neuron.toml",
  );
  assert.equal(n.listen, "0.0.0.0:13131");
  assert.deepEqual(n.model_dirs, ["/srv/models", "/opt/extra"]);
  assert.deepEqual(n.memory_budget_mb, { CPU: 2048, CUDA0: 20000 });
  assert.equal(n.library_path, "/opt/lib");
  assert.equal(n.n_threads, 1);
  assert.equal(n.log_level, "debug");
});

Deno.test("neuron: mistakes name file, line, key, expectation and value", () => {
  const e = configError(() =>
    parseNeuronConfig(`slots = 0
memory_budget_mb = { CPU = "lots" }
devices = ["CUDA0", "CUDA0"]
log_level = "verbose"
model_dirs = []
n_thread = 2
`)
  );
  assert.deepEqual(e.issues.map((i) => i.message), [
    "neuron.toml:1: slots: expected an integer >= 1, found 0",
    'neuron.toml:2: memory_budget_mb.CPU: expected an integer >= 1, found "lots"',
    'neuron.toml:3: devices[1]: expected an entry not already listed, found "CUDA0", the same as devices[0]',
    'neuron.toml:4: log_level: expected one of "debug", "info", "warn", "error", found "verbose"',
    "neuron.toml:5: model_dirs: expected at least one directory, found an array []",
    "neuron.toml:6: n_thread: expected a known top-level key (listen, model_dirs, devices, memory_budget_mb, slots, context, kv_cache_type, n_threads, n_threads_batch, n_batch, max_queue, token, library_path, rpc_servers, rpc_library, max_body_bytes, log_level), " +
    'found unknown key "n_thread"; did you mean "n_threads"?',
  ]);
});

Deno.test("neuron env: overrides, device names keep their case", () => {
  const n = parseNeuronConfig(`memory_budget_mb = { CUDA0 = 1000 }\n`, "neuron.toml", {
    NEURON_LISTEN: ":9999",
    NEURON_N_THREADS: "1",
    NEURON_MEMORY_BUDGET_MB__cuda0: "2000", // matches the existing CUDA0 entry
    NEURON_MEMORY_BUDGET_MB__Vulkan1: "300",
    NEURON_TOKEN: "0123", // a number in TOML, a string here
    NEURON_DEVICES: '["CUDA0"]',
    NEURON_RT_VISIBLE_CORES: "0-1", // AWS Neuron's variables, not ours
    NEURON_RT_LOG_LEVEL: "INFO",
  });
  assert.equal(n.listen, "0.0.0.0:9999");
  assert.equal(n.n_threads, 1);
  assert.deepEqual(n.memory_budget_mb, { CUDA0: 2000, Vulkan1: 300 });
  assert.equal(n.token, "0123");
  assert.deepEqual(n.devices, ["CUDA0"]);
});

Deno.test("neuron env: bad values and near-miss names are reported with the variable", () => {
  const e = configError(() =>
    parseNeuronConfig("", "neuron.toml", { NEURON_SLOTS: "many", NEURON_CONTXT: "8192" })
  );
  assert.deepEqual(e.issues.map((i) => i.message), [
    "neuron.toml: contxt (set by NEURON_CONTXT): expected a known setting (listen, model_dirs, devices, memory_budget_mb, slots, context, kv_cache_type, n_threads, n_threads_batch, n_batch, max_queue, token, library_path, rpc_servers, rpc_library, max_body_bytes, log_level), " +
    'found unknown key "contxt"; did you mean NEURON_CONTEXT?',
    'neuron.toml: slots (set by NEURON_SLOTS): expected an integer >= 1, found "many"',
  ]);
});

Deno.test("kv_cache_type takes f16, q8_0 or q4_0 and nothing else", () => {
  assert.equal(parseNeuronConfig('kv_cache_type = "q8_0"').kv_cache_type, "q8_0");
  assert.equal(
    parseNeuronConfig("", "neuron.toml", { NEURON_KV_CACHE_TYPE: "q4_0" }).kv_cache_type,
    "q4_0",
  );
  assert.deepEqual(
    configError(() => parseNeuronConfig('kv_cache_type = "q5_1"')).issues.map((i) => i.message),
    ['neuron.toml:1: kv_cache_type: expected one of "f16", "q8_0", "q4_0", found "q5_1"'],
  );
});

Deno.test("neuron: rpc_servers are host:port entries, none twice; rpc_library sits by the file", () => {
  const n = parseNeuronConfig(
    `rpc_servers = ["10.0.0.5:50052", "gpu-b:50052"]\nrpc_library = "rpc/libggml-rpc.so"\n`,
    "/opt/neuron.toml",
  );
  assert.deepEqual(n.rpc_servers, ["10.0.0.5:50052", "gpu-b:50052"]);
  assert.equal(n.rpc_library, "/opt/rpc/libggml-rpc.so");
  const e = configError(() => parseNeuronConfig(`rpc_servers = ["10.0.0.5", "a:1", "a:1"]\n`));
  assert.equal(e.issues.length, 2, e.issues.map((i) => i.message).join("\n"));
  assert.match(e.issues[0].message, /^neuron\.toml:1: rpc_servers\[0\]: expected .*host:port/);
  assert.match(e.issues[1].message, /rpc_servers\[2\]: expected an entry not already listed/);
  assert.match(
    configError(() => parseNeuronConfig(`rpc_library = "/opt/libggml-rpc.so"\n`)).issues[0]
      .message,
    /^neuron\.toml:1: rpc_library: expected rpc_servers beside it/,
  );
  // What ggml's RPC client cannot connect to is refused here (an IPv6 literal would abort it).
  const bad = configError(() =>
    parseNeuronConfig(`rpc_servers = ["[::1]:50052", ":50052", "h:0", "h:x", 7]\n`)
  ).issues.map((i) => i.message);
  assert.equal(bad.length, 5, bad.join("\n"));
  for (
    const [i, why] of ["an IPv6 address", "no host", "port 0", "is not a number", ""].entries()
  ) {
    assert.match(
      bad[i],
      new RegExp(
        `^neuron\\.toml:1: rpc_servers\\[${i}\\]: expected host:port of an rpc-server.*${why}`,
      ),
    );
  }
});
