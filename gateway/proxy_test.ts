import { HttpError } from "../core/errors.ts";
import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import type { NeuronState } from "./fleet.ts";
import { rawHttp1 } from "../tests/helpers/raw_http1.ts";
import { NeuronClient } from "./neuron_client.ts";
import { clientPeer, relay, send, UpstreamConnectError, upstreamHeaders } from "./proxy.ts";

/** A neuron stand-in that answers every connection with `answer` and closes it. */
function fakeNeuron(answer: string) {
  const server = rawHttp1(() => answer);
  const client = new NeuronClient({ name: "n1", endpoint: server.url, token: "secret" });
  return {
    neuron: { client } as NeuronState,
    served: server.heads,
    stopListening: () => server.close(),
    async close() {
      client.close();
      await server.close();
    },
  };
}

const clientHeaders = new Headers({
  authorization: "Bearer client-key",
  "x-include-thinking": "true",
  "content-type": "application/json",
});

Deno.test("send: the neuron's token replaces the client's, other headers pass", async () => {
  const f = fakeNeuron("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}");
  try {
    const res = await send(
      f.neuron,
      "/v1/chat/completions",
      "{}",
      clientHeaders,
      new AbortController().signal,
    );
    assertEquals(await res.text(), "{}");
    const head = f.served[0].toLowerCase();
    assertEquals(head.includes("authorization: bearer secret"), true, head);
    assertEquals(head.includes("x-cortex-usage: 1"), true, head);
    assertEquals(head.includes("client-key"), false, head);
    assertEquals(head.includes("x-include-thinking: true"), true, head);
  } finally {
    await f.close();
  }
});

Deno.test("send: an unreadable answer is a 502 naming the neuron, not a crash", async () => {
  const f = fakeNeuron("SPDY/9 nonsense\r\n\r\n");
  try {
    const e = await assertRejects(
      () =>
        send(f.neuron, "/v1/chat/completions", "{}", clientHeaders, new AbortController().signal),
      (e) => e instanceof HttpError,
    ) as HttpError;
    assertEquals(e.status, 502);
    assert(/^neuron n1 failed to answer: /.test(e.message), e.message);
  } finally {
    await f.close();
  }
});

Deno.test("send: a neuron that cannot be reached is an UpstreamConnectError", async () => {
  const f = fakeNeuron("");
  await f.stopListening(); // nothing listens on its port now
  try {
    await assertRejects(
      () =>
        send(f.neuron, "/v1/chat/completions", "{}", clientHeaders, new AbortController().signal),
      (e) => e instanceof UpstreamConnectError && e.neuron === "n1" && /refused/.test(e.message),
    );
  } finally {
    f.neuron.client.close();
  }
});

Deno.test("upstreamHeaders: no hop-by-hop fields, none the client's Connection names", () => {
  const f = { client: new NeuronClient({ name: "n", endpoint: "http://h:1", token: "t" }) };
  const client = new Headers({
    connection: "keep-alive, X-Secret-Hop",
    "x-secret-hop": "1",
    "keep-alive": "timeout=5",
    "x-api-key": "client-key",
    cookie: "a=b",
    "x-include-thinking": "true",
    "x-forwarded-for": "10.0.0.1, 10.0.0.2",
  });
  const plain = upstreamHeaders(client, f as NeuronState);
  clientPeer.set(client, "192.0.2.7");
  const h = upstreamHeaders(client, f as NeuronState);
  f.client.close();
  assertEquals(plain.get("x-forwarded-for"), "10.0.0.1, 10.0.0.2", "no peer known: as sent");
  assertEquals(h.get("x-forwarded-for"), "10.0.0.1, 10.0.0.2, 192.0.2.7", "the peer appended");
  assertEquals(h.get("x-secret-hop"), null);
  assertEquals(h.get("connection"), null);
  assertEquals(h.get("keep-alive"), null);
  assertEquals(h.get("x-api-key"), null);
  assertEquals(h.get("cookie"), null);
  assertEquals(h.get("authorization"), "Bearer t");
  assertEquals(h.get("x-include-thinking"), "true");
});

Deno.test("relay: the neuron's connection fields and usage header stay behind", async () => {
  const upstream = new Response("{}", {
    status: 201,
    headers: { "content-type": "application/json", "x-cortex-usage": "prompt=1", date: "x" },
  });
  const res = relay(upstream, upstream.body);
  assertEquals(res.status, 201);
  assertEquals(res.headers.get("content-type"), "application/json");
  assertEquals(res.headers.get("x-cortex-usage"), null);
  assertEquals(res.headers.get("date"), null);
  assertEquals(await res.text(), "{}");
});
