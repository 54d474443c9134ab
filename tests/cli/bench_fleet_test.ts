/**
 * `cortex bench` against a live neuron and through a gateway, checked
 * against the neuron's own Prometheus counters; and `cortex status` for a
 * fleet with one neuron up and one that never answers.
 */

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import {
  freePort,
  makeStore,
  type Spawned,
  spawnServer,
  writeConfig,
} from "../helpers/processes.ts";
import { runCortex } from "./cli_process.ts";

const TOKEN = "neuron-secret";
let neuron: Spawned | undefined;
let gateway: Spawned | undefined;
let store = "";
let ghostPort = 0;

async function setup() {
  if (gateway) return;
  store = await makeStore({ plain: await ensureFixture(FIXTURES.plain) });
  const ncfg = await writeConfig(
    "neuron.toml",
    `listen = "127.0.0.1:0"
model_dirs = ["${store}"]
slots = 2
context = 256
n_threads = 1
n_batch = 64
token = "${TOKEN}"
memory_budget_mb = { CPU = 200 }
`,
  );
  neuron = await spawnServer("cli/neuron.ts", ncfg);
  const res = await fetch(`${neuron.url}/models/load`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "plain" }),
  });
  assertEquals(res.status, 200, await res.text());
  ghostPort = freePort();
  const gcfg = await writeConfig(
    "cortex.toml",
    `[gateway]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
poll_interval = "300ms"
down_after = "300ms"

[[neurons]]
name = "box-a"
endpoint = "${neuron.url}"
token = "${TOKEN}"

[[neurons]]
name = "ghost"
endpoint = "http://127.0.0.1:${ghostPort}"
`,
  );
  gateway = await spawnServer("cli/cortex.ts", gcfg);
}

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

/** Sum of a counter's samples for one model in the neuron's /metrics. */
async function counter(name: string, model: string): Promise<number> {
  const res = await fetch(`${neuron!.url}/metrics`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const text = await res.text();
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m && m[1] === name && m[2].split(",").includes(`model="${model}"`)) sum += Number(m[3]);
  }
  return sum;
}

async function neuronCounters() {
  return {
    requests: await counter("neuron_requests_total", "plain"),
    prompt: await counter("neuron_prompt_tokens_total", "plain"),
    generated: await counter("neuron_generation_tokens_total", "plain"),
  };
}

interface Report {
  requests: { sent: number; ok: number; failed: number; cancelled: number };
  tokens: { prompt: number; completion: number; usage_reported: boolean };
  ttft_ms: { p50: number; count: number };
  inter_token_ms: { count: number };
  latency_ms: { p50: number; count: number };
  tokens_per_second: { aggregate: number; per_request: { count: number } };
  requests_per_second: number;
  wall_s: number;
  errors: { message: string; count: number }[];
}

itest("bench against a neuron reports what the neuron's own metrics count", async () => {
  const before = await neuronCounters();
  const r = await runCortex([
    "bench",
    "--url",
    neuron!.url,
    "--api-key",
    TOKEN,
    "--model",
    "plain",
    "--requests",
    "6",
    "--concurrency",
    "2",
    "--prompt-tokens",
    "24",
    "--max-tokens",
    "8",
    // Greedy: the same tokens every run, so no request can stop at a random end of text.
    "--temperature",
    "0",
    "--json",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const rep: Report = JSON.parse(r.stdout);
  const after = await neuronCounters();
  assertEquals(rep.requests, { sent: 6, ok: 6, failed: 0, cancelled: 0 });
  assertEquals(rep.errors, []);
  assertEquals(after.requests - before.requests, 6);
  assertEquals(rep.tokens.usage_reported, true);
  assert(rep.tokens.completion > 0);
  assertEquals(after.generated - before.generated, rep.tokens.completion);
  assertEquals(after.prompt - before.prompt, rep.tokens.prompt);
  assertEquals(rep.ttft_ms.count, 6);
  assertEquals(rep.latency_ms.count, 6);
  assert(rep.ttft_ms.p50 > 0 && rep.ttft_ms.p50 <= rep.latency_ms.p50);
  // Every gap follows a chunk of text, and a chunk holds at least one token.
  assert(rep.inter_token_ms.count <= rep.tokens.completion - 6);
  assert(Math.abs(rep.tokens_per_second.aggregate - rep.tokens.completion / rep.wall_s) < 1e-6);
  assert(Math.abs(rep.requests_per_second - 6 / rep.wall_s) < 1e-6);
});

itest("bench through the gateway, streamed and not, in human-readable form", async () => {
  const before = await neuronCounters();
  const streamed = await runCortex(
    ["bench", "--model", "plain", "--requests", "3", "--max-tokens", "6", "--temperature", "0"],
    { CORTEX_URL: gateway!.url },
  );
  assertEquals(streamed.code, 0, streamed.stderr);
  assertMatch(streamed.stdout, /^bench plain at http:\/\/127\.0\.0\.1:\d+: 1 concurrent, streamed/);
  assertMatch(streamed.stdout, /^requests {2}3 ok, 0 failed in \d+\.\d+ s \(\d+\.\d\d req\/s\)$/m);
  const tokens = /^tokens {4}(\d+) prompt, (\d+) completion; \d+\.\d tok\/s aggregate$/m.exec(
    streamed.stdout,
  );
  assert(tokens, streamed.stdout);
  assertMatch(streamed.stdout, /^time to first token\s+\d+\.\d+ m?s/m);
  assertMatch(streamed.stdout, /^inter-token latency\s/m);
  assertMatch(streamed.stdout, /^latency\s+\d+\.\d+ m?s/m);

  const plain = await runCortex(
    ["bench", "--model", "plain", "--requests", "2", "--max-tokens", "6", "--no-stream", "--json"],
    { CORTEX_URL: gateway!.url },
  );
  assertEquals(plain.code, 0, plain.stderr);
  const rep: Report = JSON.parse(plain.stdout);
  assertEquals(rep.requests.ok, 2);
  assertEquals(rep.ttft_ms.count, 0);
  const after = await neuronCounters();
  assertEquals(after.requests - before.requests, 5);
  assertEquals(
    after.generated - before.generated,
    Number(tokens[2]) + rep.tokens.completion,
  );
});

itest("bench where every request fails reports the errors and exits 1", async () => {
  const r = await runCortex([
    "--url",
    neuron!.url,
    "--api-key",
    TOKEN,
    "bench",
    "--model",
    "no-such-model",
    "--requests",
    "2",
  ]);
  assertEquals(r.code, 1);
  assertMatch(r.stdout, /^requests {2}0 ok, 2 failed/m);
  assertMatch(r.stdout, /^ {2}2 × HTTP 404: .*no-such-model/m);
  assertMatch(r.stderr, /^cortex: every request failed; first error: HTTP 404/);
});

itest("status shows one neuron up and one down with its last error", async () => {
  // The gateway learned of generation speed from the proxied bench requests.
  const r = await runCortex(["status"], { CORTEX_URL: gateway!.url });
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stdout, /^NEURONS \(1 of 2 up\)$/m);
  assertMatch(r.stdout, /^box-a\s+up\s/m);
  const ghost = new RegExp(
    `^ghost\\s+down\\s+http://127\\.0\\.0\\.1:${ghostPort}\\s+-\\s+never\\s+\\S.*$`,
    "m",
  );
  assertMatch(r.stdout, ghost);
  assertMatch(r.stdout, /^box-a\s+plain\s+loaded\s+CPU\s+\S+ [KM]iB\s+0\s+0\s+\d+\.\d\s+-$/m);
  const j = JSON.parse(
    (await runCortex(["status", "--json"], { CORTEX_URL: gateway!.url })).stdout,
  );
  const g = j.neurons.find((n: { name: string }) => n.name === "ghost");
  assertEquals(g.up, false);
  assert(typeof g.last_error === "string" && g.last_error.length > 0);
});

Deno.test({
  name: "stop the gateway and the neuron",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await gateway?.stop();
    await neuron?.stop();
    if (store) await Deno.remove(store, { recursive: true });
  },
});
