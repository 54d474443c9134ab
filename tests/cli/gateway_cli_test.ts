/**
 * `cortex status | models | load | unload | pull` as subprocesses against a
 * live gateway with an embedded neuron (tiny fixtures in its store, API keys
 * on), and `pull` from the local fake hub through the neuron's HF_ENDPOINT.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import { ensureFixture, FIXTURES, sha256File } from "../fixtures/mod.ts";
import { FakeHub } from "../helpers/fake_hub.ts";
import {
  freePort,
  makeStore,
  type Spawned,
  spawnServer,
  writeConfig,
} from "../helpers/processes.ts";
import { runCortex } from "./cli_process.ts";

const KEY = "cli-test-key";
let gateway: Spawned | undefined;
let hub: FakeHub | undefined;
let store = "";
let tinyBytes: Uint8Array<ArrayBuffer>;

async function setup(): Promise<Spawned> {
  if (gateway) return gateway;
  tinyBytes = await Deno.readFile(await ensureFixture(FIXTURES.llama3));
  hub = FakeHub.start({
    repos: { "acme/tiny-GGUF": [{ path: "tiny-Q8_0.gguf", data: tinyBytes }] },
  });
  store = await makeStore({
    plain: await ensureFixture(FIXTURES.plain),
    think: await ensureFixture(FIXTURES.think),
  });
  const neuron = await writeConfig(
    "neuron.toml",
    `model_dirs = ["${store}"]
slots = 1
context = 256
n_threads = 1
n_batch = 64
memory_budget_mb = { CPU = 300 }
`,
  );
  const cortex = await writeConfig(
    "cortex.toml",
    `[gateway]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
poll_interval = "300ms"
[auth]
api_keys = ["${KEY}"]
[embedded]
neuron_config = "${neuron}"
`,
  );
  gateway = await spawnServer("cli/cortex.ts", cortex, { env: { HF_ENDPOINT: hub.url } });
  return gateway;
}

/** The CLI pointed at the gateway through the environment, as an operator would set it up. */
const cortex = (...args: string[]) =>
  runCortex(args, { CORTEX_URL: gateway!.url, CORTEX_API_KEY: KEY });

function itest(name: string, fn: () => Promise<void>) {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await setup();
      await fn();
    },
  });
}

interface JsonModel {
  id: string;
  state: string;
  loaded_on: string[];
  available_on: string[];
}

async function modelsJson(): Promise<JsonModel[]> {
  const r = await cortex("models", "--json");
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

itest("models lists the store's fixtures as available, as a table and as JSON", async () => {
  const r = await cortex("models");
  assertEquals(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  assertMatch(lines[0], /^ID\s+ALIASES\s+STATE\s+LOADED ON\s+AVAILABLE ON\s+CONTEXT$/);
  assertMatch(r.stdout, /^plain\s+-\s+available\s+-\s+local\s+\d+$/m);
  assertMatch(r.stdout, /^think\s+-\s+available\s+-\s+local\s+\d+$/m);
  const json = await modelsJson();
  assertEquals(json.map((m) => m.id).sort(), ["plain", "think"]);
  assert(json.every((m) => m.state === "available" && m.available_on[0] === "local"));
});

itest("load prints plain progress lines without a terminal, then the model is loaded", async () => {
  const r = await cortex("load", "plain");
  assertEquals(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  for (const l of lines.slice(0, -1)) assertMatch(l, /^loading plain: \d{1,3}%$/);
  assertEquals(lines.at(-2), "loading plain: 100%");
  assertMatch(lines.at(-1)!, /^loaded plain on local in \d+\.\d+ s$/);
  assert(!r.stdout.includes("\x1b"), "no terminal escapes in a pipe");
  const plain = (await modelsJson()).find((m) => m.id === "plain")!;
  assertEquals([plain.state, plain.loaded_on], ["loaded", ["local"]]);
});

itest("load of a model already loaded says so", async () => {
  const r = await cortex("load", "plain", "--node", "local");
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, "plain is already loaded on local\n");
});

itest("status shows the neuron up, its device memory and the loaded model", async () => {
  const r = await cortex("status");
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stdout, /^NEURONS \(1 of 1 up\)$/m);
  assertMatch(r.stdout, /^local\s+up\s+http:\/\/127\.0\.0\.1:\d+\s+\S+\s+\d+s ago\s+-$/m);
  assertMatch(r.stdout, /^local\s+CPU\s+cpu\s+ok\s+\d+\.\d MiB \(\d+%\)\s+300\.0 MiB \(budget\)/m);
  assertMatch(r.stdout, /^local\s+plain\s+loaded\s+CPU\s+\d+\.\d [KM]iB\s+0\s+0\s+-\s+-$/m);

  const j = await cortex("status", "--json");
  assertEquals(j.code, 0, j.stderr);
  const s = JSON.parse(j.stdout);
  assertEquals(s.neurons[0].name, "local");
  assertEquals(s.neurons[0].up, true);
  const dev = s.neurons[0].devices[0];
  assertEquals(dev.memory_budget_bytes, 300 * 1024 * 1024);
  assert(dev.memory_used_bytes > 0);
  const m = s.neurons[0].models.find((x: { id: string }) => x.id === "plain");
  assertEquals([m.state, m.in_flight, m.queued], ["loaded", 0, 0]);
});

itest("unload takes the model off; unloading it again fails with exit 1", async () => {
  const r = await cortex("unload", "plain");
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, "unloaded plain from local\n");
  const plain = (await modelsJson()).find((m) => m.id === "plain")!;
  assertEquals([plain.state, plain.loaded_on], ["available", []]);
  const again = await cortex("unload", "plain");
  assertEquals(again.code, 1);
  assertMatch(
    again.stderr,
    /^cortex: plain is not loaded \(HTTP 404 from http:\/\/.*\/cortex\/unload\)\n$/,
  );
});

itest("load failures exit 1 with the gateway's reason", async () => {
  const unknown = await cortex("load", "nope");
  assertEquals(unknown.code, 1);
  assertStringIncludes(unknown.stderr, "model nope is not in the catalogue");
  const badNode = await cortex("load", "think", "--node", "elsewhere");
  assertEquals(badNode.code, 1);
  assertStringIncludes(badNode.stderr, "no neuron named elsewhere");
});

itest("usage errors exit 2 and never reach the gateway", async () => {
  const cases: [string[], RegExp][] = [
    [["load"], /missing required argument 'model'/],
    [["status", "--bogus"], /unknown option '--bogus'/],
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["--url", "localhost:1", "status"], /--url: expected an http\(s\) URL/],
    [["pull", "plain.gguf"], /is a path in a model store/],
    [["bench", "--model", "plain", "--concurrency", "0"], /expected 1 to 1024/],
  ];
  for (const [args, re] of cases) {
    const r = await cortex(...args);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertMatch(r.stderr, re);
  }
  const help = await cortex("load", "--help");
  assertEquals(help.code, 0);
  assertMatch(help.stdout, /Usage: cortex load \[options\] <model>/);
  assertMatch(help.stdout, /--url <url>/);
  assertMatch(help.stdout, /2 {2}bad usage or configuration/);
});

itest(
  "the API key comes from --api-key or CORTEX_API_KEY; without it the gateway says no",
  async () => {
    const none = await runCortex(["status"], { CORTEX_URL: gateway!.url });
    assertEquals(none.code, 1);
    assertMatch(none.stderr, /set --api-key or CORTEX_API_KEY/);
    const flag = await runCortex(["--url", gateway!.url, "--api-key", KEY, "models"]);
    assertEquals(flag.code, 0, flag.stderr);
    // Options of the program may also follow the command.
    const after = await runCortex(["models", "--url", gateway!.url, "--api-key", KEY, "--json"]);
    assertEquals(after.code, 0, after.stderr);
    assert(Array.isArray(JSON.parse(after.stdout)));
  },
);

itest("an unreachable gateway exits 1", async () => {
  const r = await runCortex(["status"], { CORTEX_URL: `http://127.0.0.1:${freePort()}` });
  assertEquals(r.code, 1);
  assertMatch(r.stderr, /^cortex: cannot reach http:\/\/127\.0\.0\.1:\d+: /);
});

itest("pull lands the file in the neuron's store, checked, and it shows in models", async () => {
  const r = await cortex("pull", "hf:acme/tiny-GGUF/tiny-Q8_0.gguf");
  assertEquals(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  for (const l of lines.slice(0, -1)) {
    assertMatch(l, /^pulling tiny-GGUF\/tiny-Q8_0\.gguf: \d+% \(.* of .*, .*\/s\)$/);
  }
  assertMatch(lines.at(-2)!, /: 100% \(/);
  const sha = hub!.sha256("acme/tiny-GGUF", "tiny-Q8_0.gguf");
  assertEquals(
    lines.at(-1),
    `pulled tiny-GGUF/tiny-Q8_0 into local's store (tiny-GGUF/tiny-Q8_0.gguf, ${
      (tinyBytes.length / 1024).toFixed(1)
    } KiB, sha256 ${sha})`,
  );
  // On disk in the neuron's store, byte for byte.
  assertEquals(await sha256File(`${store}/tiny-GGUF/tiny-Q8_0.gguf`), sha);
  assert(hub!.seen("/lfs/").length > 0, "the bytes came from the fake hub's CDN");
  const pulled = (await modelsJson()).find((m) => m.id === "tiny-GGUF/tiny-Q8_0");
  assert(pulled, "the pulled model is in the catalogue");
  assertEquals(pulled.available_on, ["local"]);

  // Again: nothing to transfer. As JSON for scripts.
  const again = await cortex("pull", "hf:acme/tiny-GGUF:Q8_0", "--json");
  assertEquals(again.code, 0, again.stderr);
  const result = JSON.parse(again.stdout);
  assertEquals([result.model, result.already, result.size_bytes], [
    "tiny-GGUF/tiny-Q8_0",
    true,
    tinyBytes.length,
  ]);

  // And it loads.
  const load = await cortex("load", "tiny-GGUF/tiny-Q8_0");
  assertEquals(load.code, 0, load.stderr);
  assertMatch(load.stdout, /loaded tiny-GGUF\/tiny-Q8_0 on local/);
});

itest("pull of a file the hub does not have exits 1 with the reason", async () => {
  const r = await cortex("pull", "hf:acme/tiny-GGUF/missing-Q4_0.gguf");
  assertEquals(r.code, 1);
  assertMatch(r.stderr, /^cortex: .*missing-Q4_0\.gguf/);
});

Deno.test({
  name: "stop the gateway and the fake hub",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await gateway?.stop();
    await hub?.close();
    if (store) await Deno.remove(store, { recursive: true });
  },
});
