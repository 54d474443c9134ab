import assert from "node:assert/strict";
import { register as defaultRegistry } from "prom-client";
import type { Device, NeuronModel } from "../core/neuron/mod.ts";
import { neuronModel } from "../tests/helpers/neuron_model.ts";
import { errorKindOf, GatewayMetrics, statusLabel } from "./metrics.ts";
import type { NeuronSnapshot } from "./placement.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses exposition text into samples (comments skipped). */
function samples(body: string): Sample[] {
  const out: Sample[] = [];
  for (const line of body.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/);
    assert.ok(m, `unparseable sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample named `name` whose labels are exactly `labels`. */
function value(body: string, name: string, labels: Record<string, string>): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  const hits = samples(body).filter((s) =>
    s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want
  );
  assert.ok(hits.length <= 1, `${hits.length} samples ${name} ${want}`);
  return hits[0]?.value;
}

function labelValues(body: string, name: string, label: string): string[] {
  const vs = new Set(
    samples(body).filter((s) => s.name === name).map((s) => s.labels[label]),
  );
  return [...vs].sort();
}

function metrics(): GatewayMetrics {
  return new GatewayMetrics({
    models: [{ id: "qwen3-8b", aliases: ["qwen", "default"] }, "stray-model"],
    nodes: ["n1", "n2"],
  });
}

const chat = { model: "qwen3-8b", node: "n1", endpoint: "chat" } as const;

Deno.test("metrics: every request family appears with model, node, endpoint labels", async () => {
  const m = metrics();
  m.observeRequest({
    ...chat,
    status: 200,
    durationS: 3,
    ttftS: 0.5,
    promptTokens: 120,
    completionTokens: 100,
    generationS: 2,
  });
  m.coldStart("qwen3-8b", "n1");
  m.eviction("stray-model", "n2", "capacity");
  m.eviction("qwen3-8b", "n2", "idle");
  const { body, contentType } = await m.render();
  assert.match(contentType, /^text\/plain; version=0\.0\.4/);
  const l = { model: "qwen3-8b", node: "n1", endpoint: "chat" };
  assert.equal(value(body, "cortex_requests_total", { ...l, status: "200" }), 1);
  assert.equal(value(body, "cortex_prompt_tokens_total", l), 120);
  assert.equal(value(body, "cortex_completion_tokens_total", l), 100);
  assert.equal(value(body, "cortex_request_duration_seconds_sum", l), 3);
  assert.equal(value(body, "cortex_request_duration_seconds_count", l), 1);
  assert.equal(value(body, "cortex_time_to_first_token_seconds_sum", l), 0.5);
  // 100 tokens over 2 s of generation: 50 tok/s, inside le=50 and not le=30.
  assert.equal(value(body, "cortex_tokens_per_second_sum", l), 50);
  assert.equal(value(body, "cortex_tokens_per_second_bucket", { ...l, le: "50" }), 1);
  assert.equal(value(body, "cortex_tokens_per_second_bucket", { ...l, le: "30" }), 0);
  assert.equal(value(body, "cortex_cold_starts_total", { model: "qwen3-8b", node: "n1" }), 1);
  assert.equal(
    value(body, "cortex_evictions_total", { model: "stray-model", node: "n2", reason: "capacity" }),
    1,
  );
  assert.equal(
    value(body, "cortex_evictions_total", { model: "qwen3-8b", node: "n2", reason: "idle" }),
    1,
  );
  // A success is not an error.
  assert.equal(samples(body).filter((s) => s.name === "cortex_request_errors_total").length, 0);
  for (
    const [name, type] of [
      ["cortex_requests_total", "counter"],
      ["cortex_request_duration_seconds", "histogram"],
      ["cortex_time_to_first_token_seconds", "histogram"],
      ["cortex_tokens_per_second", "histogram"],
      ["cortex_prompt_tokens_total", "counter"],
      ["cortex_completion_tokens_total", "counter"],
      ["cortex_request_errors_total", "counter"],
      ["cortex_cold_starts_total", "counter"],
      ["cortex_evictions_total", "counter"],
      ["cortex_requests_in_flight", "gauge"],
      ["cortex_requests_queued", "gauge"],
      ["cortex_neuron_up", "gauge"],
      ["cortex_device_memory_bytes", "gauge"],
    ]
  ) {
    assert.ok(body.includes(`# TYPE ${name} ${type}\n`), `missing ${type} ${name}`);
  }
});

Deno.test("metrics: histogram buckets span LLM latencies and speeds", async () => {
  const m = metrics();
  m.observeRequest({ ...chat, status: 200, durationS: 599, ttftS: 59, completionTokens: 10 });
  const { body } = await m.render();
  const les = (name: string) =>
    samples(body).filter((s) => s.name === `${name}_bucket`).map((s) => s.labels.le);
  assert.deepEqual(les("cortex_time_to_first_token_seconds").slice(0, 1), ["0.005"]);
  assert.ok(les("cortex_time_to_first_token_seconds").includes("60"));
  assert.ok(les("cortex_request_duration_seconds").includes("600"));
  assert.deepEqual(les("cortex_tokens_per_second").slice(0, 1), ["1"]);
  assert.ok(les("cortex_tokens_per_second").includes("2000"));
  const l = { model: "qwen3-8b", node: "n1", endpoint: "chat" };
  // 599 s lands in le=600 but not le=300; 59 s TTFT in le=60 but not le=30.
  assert.equal(value(body, "cortex_request_duration_seconds_bucket", { ...l, le: "300" }), 0);
  assert.equal(value(body, "cortex_request_duration_seconds_bucket", { ...l, le: "600" }), 1);
  assert.equal(value(body, "cortex_time_to_first_token_seconds_bucket", { ...l, le: "30" }), 0);
  assert.equal(value(body, "cortex_time_to_first_token_seconds_bucket", { ...l, le: "60" }), 1);
  // Without generationS, speed is completion tokens over duration − TTFT: 10 / 540 s.
  assert.equal(value(body, "cortex_tokens_per_second_sum", l), 10 / 540);
});

Deno.test("metrics: aliases resolve, unknown models and nodes are bounded", async () => {
  const m = metrics();
  m.observeRequest({ ...chat, model: "qwen", status: 200, durationS: 1 });
  m.observeRequest({ ...chat, model: "default", status: 200, durationS: 1 });
  m.observeRequest({ ...chat, model: "made-up-1", status: 404, durationS: 0.01 });
  m.observeRequest({ ...chat, model: "made-up-2", status: 404, durationS: 0.01 });
  m.observeRequest({ ...chat, node: "rogue", status: 200, durationS: 1 });
  m.observeRequest({ ...chat, node: null, status: 503, durationS: 1 });
  m.observeRequest({ ...chat, endpoint: "bogus" as "chat", status: 200, durationS: 1 });
  const { body } = await m.render();
  assert.deepEqual(labelValues(body, "cortex_requests_total", "model"), ["qwen3-8b", "unknown"]);
  assert.deepEqual(labelValues(body, "cortex_requests_total", "node"), ["n1", "none", "unknown"]);
  assert.deepEqual(labelValues(body, "cortex_requests_total", "endpoint"), ["chat", "other"]);
  assert.equal(
    value(body, "cortex_requests_total", {
      model: "qwen3-8b",
      node: "n1",
      endpoint: "chat",
      status: "200",
    }),
    2,
  );
  assert.equal(
    value(body, "cortex_requests_total", {
      model: "unknown",
      node: "n1",
      endpoint: "chat",
      status: "404",
    }),
    2,
  );
});

Deno.test("metrics: setKnownModels replaces the known set", async () => {
  const m = metrics();
  m.setKnownModels(["llama"]);
  m.observeRequest({ ...chat, model: "llama", status: 200, durationS: 1 });
  m.observeRequest({ ...chat, model: "qwen", status: 200, durationS: 1 });
  const { body } = await m.render();
  assert.deepEqual(labelValues(body, "cortex_requests_total", "model"), ["llama", "unknown"]);
});

Deno.test("metrics: errors by status and kind, including failures after a 200", async () => {
  const m = metrics();
  m.observeRequest({ ...chat, status: 429, durationS: 0.1 });
  m.observeRequest({ ...chat, status: 418, durationS: 0.1 });
  m.observeRequest({ ...chat, status: 502, durationS: 0.1, errorKind: "upstream_unreachable" });
  m.observeRequest({ ...chat, status: 200, durationS: 5, errorKind: "upstream_error" });
  const { body } = await m.render();
  const l = { model: "qwen3-8b", node: "n1", endpoint: "chat" };
  const errors = (status: string, kind: string) =>
    value(body, "cortex_request_errors_total", { ...l, status, kind });
  assert.equal(errors("429", "rate_limited"), 1);
  assert.equal(errors("4xx", "client_error"), 1);
  assert.equal(errors("502", "upstream_unreachable"), 1);
  assert.equal(errors("200", "upstream_error"), 1);
  assert.equal(value(body, "cortex_requests_total", { ...l, status: "4xx" }), 1);
});

Deno.test("metrics: statusLabel and errorKindOf stay within their sets", () => {
  assert.equal(statusLabel(200), "200");
  assert.equal(statusLabel(201), "2xx");
  assert.equal(statusLabel(307), "3xx");
  assert.equal(statusLabel(507), "5xx");
  assert.equal(statusLabel(0), "unknown");
  assert.equal(statusLabel(99999), "unknown");
  assert.equal(errorKindOf(200), null);
  assert.equal(errorKindOf(304), null);
  assert.equal(errorKindOf(401), "auth");
  assert.equal(errorKindOf(499), "client_closed");
  assert.equal(errorKindOf(504), "timeout");
  assert.equal(errorKindOf(503), "no_capacity");
  assert.equal(errorKindOf(500), "internal");
  assert.equal(errorKindOf(502), "upstream_error");
});

Deno.test("metrics: bad measurements are dropped, not thrown into the proxy", async () => {
  const m = metrics();
  m.observeRequest({
    ...chat,
    status: 200,
    durationS: NaN,
    ttftS: -1,
    promptTokens: -5,
    completionTokens: Infinity,
  });
  const { body } = await m.render();
  const l = { model: "qwen3-8b", node: "n1", endpoint: "chat" };
  assert.equal(value(body, "cortex_requests_total", { ...l, status: "200" }), 1);
  // No series is created from a value that could not be measured.
  for (
    const name of [
      "cortex_request_duration_seconds_count",
      "cortex_time_to_first_token_seconds_count",
      "cortex_tokens_per_second_count",
      "cortex_prompt_tokens_total",
      "cortex_completion_tokens_total",
    ]
  ) assert.equal(value(body, name, l), undefined, name);
  assert.throws(() => m.eviction("qwen3-8b", "n1", "boredom" as "idle"), /reason/);
});

function device(name: string, total: number, free: number, used: number): Device {
  return {
    name,
    description: name,
    type: "gpu",
    state: "ok",
    error: null,
    memory_total_bytes: total,
    memory_free_bytes: free,
    memory_budget_bytes: null,
    memory_used_bytes: used,
    temperature_c: null,
    utilization_percent: null,
  };
}

function loaded(id: string, queued: number): NeuronModel {
  return neuronModel({
    id,
    device: "GPU0",
    size_bytes: 1,
    memory_bytes: 1,
    context_length: null,
    context: null,
    in_flight: 1 + queued,
    queued,
    loaded_at: 1,
    last_used: 1,
  });
}

Deno.test("metrics: in-flight, queued and fleet gauges are read at scrape time", async () => {
  const m = metrics();
  let fleet: NeuronSnapshot[] = [
    {
      name: "n1",
      up: true,
      devices: [{ ...device("GPU0", 1000, 600, 300), memory_budget_bytes: 900 }],
      models: [loaded("qwen3-8b", 2), loaded("someone-elses", 1)],
    },
    { name: "n2", up: false, devices: [device("GPU0", 500, 500, 0)], models: [] },
  ];
  m.setFleetSource(() => fleet);
  const a = m.trackInFlight("qwen");
  const b = m.trackInFlight("qwen3-8b");
  const w = m.trackWaiting("qwen3-8b");
  let { body } = await m.render();
  assert.equal(value(body, "cortex_requests_in_flight", { model: "qwen3-8b" }), 2);
  // 1 waiting for a load at the gateway + 2 queued on n1.
  assert.equal(value(body, "cortex_requests_queued", { model: "qwen3-8b" }), 3);
  assert.equal(value(body, "cortex_requests_queued", { model: "unknown" }), 1);
  assert.equal(value(body, "cortex_neuron_up", { node: "n1" }), 1);
  assert.equal(value(body, "cortex_neuron_up", { node: "n2" }), 0);
  const mem = (kind: string) =>
    value(body, "cortex_device_memory_bytes", { node: "n1", device: "GPU0", kind });
  assert.deepEqual([mem("total"), mem("free"), mem("used")], [900, 600, 300]);
  // A down neuron's last figures are stale: not reported.
  assert.equal(
    value(body, "cortex_device_memory_bytes", { node: "n2", device: "GPU0", kind: "free" }),
    undefined,
  );

  a();
  a(); // release is idempotent
  w();
  fleet = [{ ...fleet[0], models: [] }];
  ({ body } = await m.render());
  assert.equal(value(body, "cortex_requests_in_flight", { model: "qwen3-8b" }), 1);
  assert.equal(value(body, "cortex_requests_queued", { model: "qwen3-8b" }), 0);
  assert.equal(value(body, "cortex_neuron_up", { node: "n2" }), undefined);
  b();
  ({ body } = await m.render());
  assert.equal(value(body, "cortex_requests_in_flight", { model: "qwen3-8b" }), 0);
});

Deno.test("metrics: each instance has its own registry, not prom-client's default", async () => {
  const one = metrics();
  const two = metrics(); // would throw "already registered" on a shared registry
  one.coldStart("qwen3-8b", "n1");
  assert.equal(
    value((await two.render()).body, "cortex_cold_starts_total", {
      model: "qwen3-8b",
      node: "n1",
    }),
    undefined,
  );
  assert.equal(defaultRegistry.getSingleMetric("cortex_requests_total"), undefined);
});

Deno.test("metrics: promtool check metrics accepts the exposition", async () => {
  const m = metrics();
  m.setFleetSource(() => [{
    name: "n1",
    up: true,
    devices: [device("GPU0", 1000, 600, 300)],
    models: [loaded("qwen3-8b", 1)],
  }]);
  m.observeRequest({
    ...chat,
    status: 200,
    durationS: 2,
    ttftS: 0.2,
    promptTokens: 10,
    completionTokens: 20,
  });
  m.observeRequest({ ...chat, model: "nope", status: 503, durationS: 0.01, node: null });
  m.coldStart("qwen3-8b", "n1");
  m.eviction("qwen3-8b", "n1", "defrag");
  const release = m.trackInFlight("qwen3-8b");
  const { body } = await m.render();
  release();
  let child;
  try {
    child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        "promtool is not installed: install it (Debian: apt-get install -y prometheus) to run this test",
      );
    }
    throw e;
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(body));
  await writer.close();
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `promtool check metrics failed:\n${text}\n--- body ---\n${body}`);
  assert.equal(text.trim(), "", `promtool reported lint problems:\n${text}`);
});

Deno.test("metrics: drafted and accepted tokens per model and node come from the fleet", async () => {
  const m = metrics();
  const speculation = (drafted: number, accepted: number) => ({
    mode: "draft" as const,
    draft: "small",
    draft_max: 16,
    draft_min_p: 0,
    drafted_tokens: drafted,
    accepted_tokens: accepted,
  });
  let fleet: NeuronSnapshot[] = [
    {
      name: "n1",
      up: true,
      devices: [],
      models: [{ ...loaded("qwen3-8b", 0), speculation: speculation(100, 80) }],
    },
    {
      name: "n2",
      up: true,
      devices: [],
      models: [{ ...loaded("qwen3-8b", 0), speculation: speculation(10, 1) }, loaded("x", 0)],
    },
  ];
  m.setFleetSource(() => fleet);
  let { body } = await m.render();
  assert.ok(body.includes("# TYPE cortex_draft_tokens_total counter\n"));
  const at = (name: string, node: string) => value(body, name, { model: "qwen3-8b", node });
  assert.equal(at("cortex_draft_tokens_total", "n1"), 100);
  assert.equal(at("cortex_draft_accepted_tokens_total", "n1"), 80);
  assert.equal(at("cortex_draft_tokens_total", "n2"), 10);
  assert.equal(at("cortex_draft_accepted_tokens_total", "n2"), 1);
  // Each scrape reads the neurons' current counts (no double counting).
  fleet = [{
    ...fleet[0],
    models: [{ ...fleet[0].models[0], speculation: speculation(150, 120) }],
  }];
  ({ body } = await m.render());
  assert.equal(at("cortex_draft_tokens_total", "n1"), 150);
  assert.equal(at("cortex_draft_tokens_total", "n2"), undefined);
});
