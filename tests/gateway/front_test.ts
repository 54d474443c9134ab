/**
 * The gateway's HTTP front (Deno.serve): what reaches the client for odd and
 * hostile requests, body limits, what reaches the neuron of the client's
 * headers, streams from a neuron that goes silent or breaks, HTTPS with
 * HTTP/2, and the grace period of a shutdown. The gateway runs in this process
 * in front of a stand-in neuron whose streams can be made to misbehave.
 */

import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { gatewayOver, serveStandIn } from "../helpers/stand_in_neuron.ts";
import { metricValue, waitFor } from "./harness.ts";

const TLS = new URL("../fixtures/tls/", import.meta.url).pathname;
const KEY = "front-key";
const standIn = serveStandIn({ model: "m" });

const front = (gateway = "", auth = "") =>
  gatewayOver({ "stand-in": standIn }, {
    gateway: `max_body_bytes = 4096\nstream_idle_timeout = "400ms"\n${gateway}`,
    auth: `api_keys = ["${KEY}"]\n${auth}`,
  });

const gw = await front();
const port = Number(new URL(gw.url).port);
const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY, maxRetries: 0 });
const anthropic = new Anthropic({ baseURL: gw.url, apiKey: KEY, maxRetries: 0 });

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${gw.metricsUrl}/metrics`)).text();
  return metricValue(text, name, labels);
}

/** Writes `request` on a fresh connection; the status line and body of the answer (or ""). */
async function raw(request: string | Uint8Array): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(typeof request === "string" ? new TextEncoder().encode(request) : request);
    let bytes = new Uint8Array(0);
    const buf = new Uint8Array(16384);
    let text = "";
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      bytes = new Uint8Array([...bytes, ...buf.subarray(0, n)]);
      text = new TextDecoder().decode(bytes);
      const head = text.indexOf("\r\n\r\n");
      if (head < 0) continue;
      const len = /content-length: *(\d+)/i.exec(text.slice(0, head));
      const headBytes = new TextEncoder().encode(text.slice(0, head + 4)).length;
      if (!len || bytes.length - headBytes >= Number(len[1])) break;
    }
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } finally {
    conn.close();
  }
}

Deno.test("front: odd request targets and non-HTTP bytes get a 4xx, never a 5xx", async () => {
  const auth = `Authorization: Bearer ${KEY}\r\n`;
  for (
    const target of ["*", "http://a:99999/", "http://[/x", "http://a%zz/", "/v1/../../x", "/%00"]
  ) {
    for (const a of ["", auth]) {
      const { status } = await raw(`OPTIONS ${target} HTTP/1.1\r\nHost: a\r\n${a}\r\n`);
      assert(
        status >= 400 && status < 500,
        `OPTIONS ${target} (${a ? "auth" : "none"}): ${status}`,
      );
      const get = await raw(`GET ${target} HTTP/1.1\r\nHost: a\r\n${a}\r\n`);
      assert(get.status >= 400 && get.status < 500, `GET ${target}: ${get.status}`);
    }
  }
  // A TLS ClientHello on the plain port is answered, not left hanging.
  const hello = new Uint8Array([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]);
  assertEquals((await raw(hello)).status, 400);
  // Smuggling shapes are hyper's to refuse.
  const both = await raw(
    "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n" +
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  );
  assertEquals(both.status, 400);
});

Deno.test("front: a Host header cannot move where the routed path starts", async () => {
  const auth = `Authorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n`;
  const body = JSON.stringify({ model: "m", prompt: "hi", max_tokens: 1 });
  const post = (host: string) =>
    raw(
      `POST /completions HTTP/1.1\r\nHost: ${host}\r\n${auth}` +
        `Content-Length: ${body.length}\r\n\r\n${body}`,
    );
  // Deno builds the URL from Host: `x/v1` once made this POST a completions request (200).
  for (const host of ["x/v1", "x?", "x#", "u@x"]) {
    const res = await post(host);
    assertEquals(res.status, 400, host);
    assertEquals(JSON.parse(res.body).error.code, "invalid_host", host);
  }
  assertEquals((await post(`127.0.0.1:${port}`)).status, 404, "a plain Host routes as before");
  // Refused before routing, it still answers in the dialect of the path it asked for.
  const at = (path: string) => raw(`POST ${path} HTTP/1.1\r\nHost: x/y\r\n${auth}\r\n`);
  assertEquals(JSON.parse((await at("/v1/messages")).body).type, "error");
  assertEquals(typeof JSON.parse((await at("/api/chat")).body).error, "string");
});

Deno.test("front: HEAD is answered as GET without a body; a body not UTF-8 is a 400", async () => {
  const head = await fetch(`${gw.url}/v1/models`, {
    method: "HEAD",
    headers: { authorization: `Bearer ${KEY}` },
  });
  assertEquals([head.status, await head.text()], [200, ""]);
  const bytes = new TextEncoder().encode(
    `{"model":"m","messages":[{"role":"user","content":"X"}]}`,
  );
  bytes[bytes.indexOf(0x58)] = 0xff; // the X
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: bytes,
  });
  assertEquals(res.status, 400);
  assertMatch((await res.json()).error.message, /not valid UTF-8/);
});

Deno.test("front: Anthropic server tools left out are reported in message_start", async () => {
  const s = anthropic.messages.stream({
    model: "m",
    max_tokens: 50,
    messages: [{ role: "user", content: "hi" }],
    tools: [
      { type: "web_search_20250305", name: "web_search" },
      { name: "f", input_schema: { type: "object" } },
    ],
  });
  let start: Record<string, unknown> | null = null;
  for await (const ev of s) {
    if (ev.type === "message_start") start = ev.message as unknown as Record<string, unknown>;
  }
  assertEquals(start?.cortex_dropped_tools, [{ name: "web_search", type: "web_search_20250305" }]);
});

Deno.test("front: a path parameter that is not UTF-8 is a 400 naming it", async () => {
  for (const [path, param] of [["/v1/models/%ff", "model"], ["/v1/responses/%ff", "response_id"]]) {
    const res = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${KEY}` } });
    assertEquals(res.status, 400, path);
    assertEquals((await res.json()).error.param, param);
  }
});

Deno.test("front: a body over max_body_bytes is a 413, before it is sent when declared", async () => {
  const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${KEY}\r\n`;
  // The client declares 100 MB and sends 5 bytes of it: the answer comes without the rest.
  const early = await raw(`${head}Content-Length: 100000000\r\n\r\n{"mod`);
  assertEquals(early.status, 413);
  assertMatch(JSON.parse(early.body).error.message, /100000000 bytes exceeds the 4096-byte limit/);
  const chunked = await raw(
    `${head}Transfer-Encoding: chunked\r\n\r\n2000\r\n${"x".repeat(0x2000)}\r\n0\r\n\r\n`,
  );
  assertEquals(chunked.status, 413);
  assertEquals(JSON.parse(chunked.body).error.code, "request_too_large");
});

Deno.test("front: the neuron sees no client credentials or hop-by-hop fields, and who asked", async () => {
  const before = standIn.seen.length;
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${KEY}`,
      connection: "x-hop",
      "x-hop": "secret",
      "x-forwarded-for": "203.0.113.9",
      "x-include-thinking": "true",
    },
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], stream: true }),
  });
  assertEquals(res.status, 200);
  assertMatch(await res.text(), /data: \[DONE\]/);
  const seen = standIn.seen[before];
  assertEquals(seen.get("authorization"), null);
  assertEquals(seen.get("x-hop"), null);
  assertEquals(seen.get("x-forwarded-for"), "203.0.113.9, 127.0.0.1");
  assertEquals(seen.get("x-include-thinking"), "true");
});

Deno.test("front: usage split across two reads is still counted", async () => {
  const before = await metric("cortex_completion_tokens_total", { model: "m" });
  const s = await openai.chat.completions.create(
    { model: "m", messages: [{ role: "user", content: "hi" }], stream: true },
    { headers: { "x-stand-in": "split" } },
  );
  let text = "";
  for await (const ch of s) text += ch.choices[0]?.delta.content ?? "";
  assertEquals(text, Array.from({ length: 20 }, (_, i) => ` t${i + 1}`).join(""));
  assertEquals(await metric("cortex_completion_tokens_total", { model: "m" }), before + 20);
});

Deno.test("front: error envelopes as each dialect's own clients expect them", async () => {
  const unknown = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model: "nope", messages: [{ role: "user", content: "hi" }] }),
  });
  assertEquals(unknown.status, 404);
  const u = (await unknown.json()).error;
  assertEquals([u.type, u.code, u.param], ["invalid_request_error", "model_not_found", "model"]);
  const badKey = await fetch(`${gw.url}/v1/models`, { headers: { authorization: "Bearer x" } });
  assertEquals(badKey.status, 401);
  const k = (await badKey.json()).error;
  assertEquals([k.type, k.code], ["invalid_request_error", "invalid_api_key"]);
  const anth = await fetch(`${gw.url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": "x", "anthropic-version": "2023-06-01" },
    body: "{}",
  });
  assertEquals(anth.status, 401);
  assertEquals((await anth.json()).error.type, "authentication_error");
});

Deno.test("front: a neuron silent past stream_idle_timeout ends the stream with an error event, in each dialect", async () => {
  const cancelledBefore = standIn.cancelled;
  const silent = { headers: { "x-stand-in": "silent" } };
  const t0 = performance.now();
  const s = await openai.chat.completions.create(
    { model: "m", messages: [{ role: "user", content: "hi" }], stream: true },
    silent,
  );
  let err: unknown = null;
  let chunks = 0;
  try {
    for await (const _ of s) chunks++;
  } catch (e) {
    err = e;
  }
  assert(err instanceof OpenAI.APIError, `no error event: ${err}`);
  assertMatch(err.message, /no data for 0.4 s/);
  assertEquals(chunks, 4, "the role chunk and three tokens came first");
  assert(performance.now() - t0 < 5000);

  const a = anthropic.messages.stream(
    { model: "m", max_tokens: 50, messages: [{ role: "user", content: "hi" }] },
    silent,
  );
  let aerr: unknown = null;
  try {
    for await (const _ of a) { /* read to the end */ }
  } catch (e) {
    aerr = e;
  }
  assert(aerr instanceof Anthropic.APIError, `no Anthropic error event: ${aerr}`);
  assertMatch(String(aerr), /no data for 0.4 s/);
  // The cancel reaches the neuron as an HTTP/2 reset, a few milliseconds after the client's
  // error event; well within one second (a neuron's step).
  await waitFor(
    "both upstream streams cancelled",
    () => standIn.cancelled === cancelledBefore + 2,
    1000,
    5,
  );
});

Deno.test("front: a neuron whose connection breaks mid-stream is an error event in the Anthropic dialect", async () => {
  const a = anthropic.messages.stream(
    { model: "m", max_tokens: 50, messages: [{ role: "user", content: "hi" }] },
    { headers: { "x-stand-in": "die" } },
  );
  let text = "";
  let err: unknown = null;
  try {
    for await (const ev of a) {
      if (ev.type === "content_block_delta" && ev.delta.type === "text_delta") {
        text += ev.delta.text;
      }
    }
  } catch (e) {
    err = e;
  }
  assertEquals(text, " t1 t2 t3");
  assert(err instanceof Anthropic.APIError, `no error event: ${err}`);
  assertMatch(String(err), /neuron/);
});

Deno.test("front: HTTPS with tls_cert / tls_key, HTTP/2 by ALPN, the openai client over it", async () => {
  const tls = await front(`tls_cert = "${TLS}cert.pem"
tls_key = "${TLS}key.pem"`);
  const ca = await Deno.readTextFile(`${TLS}ca.pem`);
  const client = Deno.createHttpClient({ caCerts: [ca] });
  try {
    assertMatch(tls.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: Number(new URL(tls.url).port),
      caCerts: [ca],
      alpnProtocols: ["h2", "http/1.1"],
    });
    assertEquals((await conn.handshake()).alpnProtocol, "h2");
    conn.close();
    const sdk = new OpenAI({
      baseURL: `${tls.url}/v1`,
      apiKey: KEY,
      maxRetries: 0,
      fetch: (url: string | URL | Request, init?: RequestInit) => fetch(url, { ...init, client }),
    });
    const s = await sdk.chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    });
    let text = "";
    for await (const ch of s) text += ch.choices[0]?.delta.content ?? "";
    assertEquals(text, Array.from({ length: 20 }, (_, i) => ` t${i + 1}`).join(""));
    // Plain HTTP on the TLS port gets nowhere.
    const plain = await fetch(tls.url.replace("https", "http")).then((r) => r.status, () => 0);
    assert(plain !== 200);
  } finally {
    client.close();
    await tls.shutdown(1000);
  }
});

Deno.test("front: a shutdown lets streams run for its grace period, then ends them with an error event", async () => {
  const slow = serveStandIn({ model: "m", events: 1000, gapMs: 10 });
  const g = await gatewayOver({ slow });
  const sdk = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: "none", maxRetries: 0 });
  try {
    const s = await sdk.chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    });
    let chunks = 0;
    let stopped: Promise<void> | undefined;
    let err: unknown = null;
    const t0 = performance.now();
    let cutAt = 0;
    try {
      for await (const _ of s) {
        if (++chunks === 5) {
          stopped = g.shutdown(500);
          cutAt = performance.now();
        }
      }
    } catch (e) {
      err = e;
    }
    const ranFor = performance.now() - cutAt;
    assert(err instanceof OpenAI.APIError, `no error event: ${err}`);
    assertMatch(err.message, /shutting down/);
    assert(ranFor >= 400, `cut ${ranFor.toFixed(0)} ms into a 500 ms grace period`);
    assert(chunks > 30 && chunks < 1000, `${chunks} chunks in ${performance.now() - t0} ms`);
    await stopped;
    const refused = await fetch(`${g.url}/health`).then(() => false, () => true);
    assert(refused, "the port still answers after shutdown");
  } finally {
    await slow.close();
  }
});

Deno.test("front: with operator keys, API keys use models but do not change the fleet", async () => {
  const g = await front("", `admin_keys = ["op-key"]`);
  const call = (path: string, key: string | null, body?: unknown) =>
    fetch(`${g.url}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: key ? { authorization: `Bearer ${key}` } : {},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  try {
    for (const path of ["/cortex/load", "/cortex/unload", "/cortex/pull"]) {
      const res = await call(path, KEY, { model: "m", source: "hf:a/b:Q4_K_M" });
      assertEquals(res.status, 403, path);
      assertEquals((await res.json()).error.code, "admin_key_required");
      assertEquals((await call(path, null, {})).status, 401, `${path} without a key`);
    }
    const status = await call("/cortex/status", KEY);
    assertEquals(status.status, 200, "reading the fleet needs an API key only");
    await status.body?.cancel();
    const unknown = await call("/cortex/unload", "op-key", { model: "no-such-model" });
    assertEquals(unknown.status, 404, "an operator key is let through");
    await unknown.body?.cancel();
    const models = await call("/v1/models", "op-key");
    assertEquals(models.status, 200, "an operator key works as an API key");
    await models.body?.cancel();
  } finally {
    await g.shutdown(1000);
  }
});

Deno.test("front: stop", async () => {
  await gw.shutdown(1000);
  await standIn.close();
});
