/**
 * `[gateway] request_timeout`: a proxied request that runs past it ends in a
 * 504 in the caller's dialect (or, once streaming, an error event), and the
 * neuron's work is cancelled. The gateway runs in this process in front of a
 * stand-in neuron whose answers can be made to hang, so the timing is exact.
 */

import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { parseCortexConfig, parseModelsConfig } from "../../core/config/mod.ts";
import { serveGateway } from "../../gateway/serve.ts";
import { cannedHandler, cannedHealth } from "../bench/gateway/canned_backend.ts";
import { neuronModel } from "../helpers/neuron_model.ts";
import { metricValue, user, waitFor } from "./harness.ts";

/** What the stand-in neuron saw being given up on. */
const cancelled = { hung: 0, streams: 0, loads: 0 };

/** Hanging requests, answered at the end so the stand-in can stop. */
const hanging = new Set<() => void>();

/** Stops when its request is aborted (the gateway gave up on it); never answers otherwise. */
function hang(req: Request, count: () => void): Promise<Response> {
  return new Promise((resolve) => {
    const end = () => resolve(new Response(null, { status: 499 }));
    hanging.add(end);
    req.signal.addEventListener("abort", () => {
      count();
      hanging.delete(end);
      end();
    });
  });
}

/** A body that counts its cancellation. */
function watched(body: ReadableStream<Uint8Array>, onCancel: () => void) {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const { value, done } = await reader.read();
      if (done) c.close();
      else c.enqueue(value);
    },
    cancel(reason) {
      onCancel();
      return reader.cancel(reason);
    },
  });
}

// A stream of 2000 events 10 ms apart: 20 s, far past the limit.
const canned = cannedHandler({ model: "canned", chunks: 2000, delayMs: 10 });
const cold = neuronModel({ id: "cold", state: "available", device: null, slots: 4 });
const models = () => [...cannedHealth("canned", 0).models, cold];
const neuron = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
  const path = new URL(req.url).pathname;
  if (path === "/health") return Response.json({ ...cannedHealth("canned", 0), models: models() });
  if (path === "/models") return Response.json({ models: models() });
  if (path === "/models/load") return await hang(req, () => cancelled.loads++);
  if (req.headers.has("x-hang")) return await hang(req, () => cancelled.hung++);
  const res = await canned(req);
  if (!res.body || !res.headers.get("content-type")?.includes("event-stream")) return res;
  return new Response(watched(res.body, () => cancelled.streams++), { headers: res.headers });
});

const config = parseCortexConfig(`
[gateway]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
poll_interval = "200ms"
request_timeout = "700ms"

[[neurons]]
name = "stand-in"
endpoint = "http://127.0.0.1:${neuron.addr.port}"
`);
const gw = await serveGateway(config, parseModelsConfig(""));
const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: "none", maxRetries: 0 });
const anthropic = new Anthropic({ baseURL: gw.url, apiKey: "none", maxRetries: 0 });
const hung = { headers: { "x-hang": "1" } };

async function metric(labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${gw.metricsUrl}/metrics`)).text();
  return metricValue(text, "cortex_request_errors_total", labels);
}

Deno.test("request_timeout: a whole answer past the limit is a 504 in each dialect; the neuron's request is cut", async () => {
  const t0 = performance.now();
  const err = await openai.chat.completions.create(
    { model: "canned", messages: user("hi"), max_tokens: 4 },
    hung,
  ).then(() => null, (e) => e);
  const took = performance.now() - t0;
  assert(err instanceof OpenAI.APIError, `expected an API error, got ${err}`);
  assertEquals([err.status, err.code], [504, "timeout"]);
  assertMatch(err.message, /request_timeout \(700ms\)/);
  assert(took >= 600 && took < 3000, `answered after ${took} ms`);
  await waitFor("the neuron's request to be cancelled", () => cancelled.hung === 1);

  const aerr = await anthropic.messages.create(
    { model: "canned", max_tokens: 4, messages: user("hi") },
    hung,
  ).then(() => null, (e) => e);
  assert(aerr instanceof Anthropic.APIError, `expected an API error, got ${aerr}`);
  assertEquals(aerr.status, 504);
  assertEquals((aerr.error as { error?: { type?: string } })?.error?.type, "timeout_error");

  await waitFor(
    "the timeouts to be counted",
    async () => await metric({ model: "canned", kind: "timeout" }) === 2,
  );
});

Deno.test("request_timeout: a stream past the limit ends with an error event; its source is cancelled", async () => {
  const stream = await openai.chat.completions.create({
    model: "canned",
    messages: user("hi"),
    max_tokens: 4000,
    stream: true,
  });
  let events = 0;
  const err = await (async () => {
    for await (const _ of stream) events++;
  })().then(() => null, (e) => e);
  assert(err instanceof OpenAI.APIError, `the stream ended without an error: ${err}`);
  assertMatch(err.message, /request_timeout/);
  assert(events > 10 && events < 2000, `${events} events before the cut`);
  await waitFor("the neuron's stream to be cancelled", () => cancelled.streams === 1);
});

Deno.test("request_timeout: waiting for a cold load stops at the limit (the load is not cancelled by it)", async () => {
  const t0 = performance.now();
  const err = await openai.chat.completions.create({
    model: "cold",
    messages: user("hi"),
    max_tokens: 4,
  }).then(() => null, (e) => e);
  assert(err instanceof OpenAI.APIError, `expected an API error, got ${err}`);
  assertEquals(err.status, 504);
  assert(performance.now() - t0 < 3000, "the wait ended at the deadline");
});

Deno.test("request_timeout: requests that finish in time are untouched and leave no deadline behind", async () => {
  const r = await openai.chat.completions.create({ model: "canned", messages: user("hi") });
  assertEquals(r.choices[0].finish_reason, "length");
  assertEquals(gw.gateway.deadlines?.size, 0);
});

Deno.test("request_timeout: stop", async () => {
  await gw.shutdown(2000);
  for (const end of hanging) end();
  await neuron.shutdown();
});
