import { HttpError } from "../core/errors.ts";
import { assertEquals, assertRejects } from "../tests/assert.ts";
import type { NeuronState } from "./fleet.ts";
import { NeuronClient } from "./neuron_client.ts";
import { send, UpstreamConnectError } from "./proxy.ts";

/** A neuron stand-in that answers every connection with `answer` and closes it. */
function fakeNeuron(answer: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served: string[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      const buf = new Uint8Array(65536);
      const n = await conn.read(buf) ?? 0;
      served.push(new TextDecoder().decode(buf.subarray(0, n)));
      await conn.write(new TextEncoder().encode(answer)).catch(() => {});
      conn.close();
    }
  })();
  const client = new NeuronClient({
    name: "n1",
    endpoint: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    token: "secret",
  });
  return {
    neuron: { client } as NeuronState,
    served,
    async close() {
      client.upstream.close();
      listener.close();
      await loop.catch(() => {});
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
    assertEquals(
      /neuron n1 sent an unreadable answer: malformed status line/.test(e.message),
      true,
    );
  } finally {
    await f.close();
  }
});

Deno.test("send: a neuron that hangs up before answering is an UpstreamConnectError", async () => {
  const f = fakeNeuron("");
  try {
    await assertRejects(
      () =>
        send(f.neuron, "/v1/chat/completions", "{}", clientHeaders, new AbortController().signal),
      (e) => e instanceof UpstreamConnectError && e.neuron === "n1",
    );
  } finally {
    await f.close();
  }
});
