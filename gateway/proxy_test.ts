import { HttpError } from "../core/errors.ts";
import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import type { NeuronState } from "./fleet.ts";
import { NeuronClient } from "./neuron_client.ts";
import { indexOfBytes, send, StreamWatch, UpstreamConnectError } from "./proxy.ts";

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

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("indexOfBytes finds a needle by any anchor byte, at the edges too", () => {
  const hay = bytes(`x"prompt_tokens":1,"a_b":"prompt_tokens"`);
  const needle = bytes(`"prompt_tokens":`);
  for (const anchor of [0, 7, needle.length - 1]) {
    assertEquals(indexOfBytes(hay, needle, 0, anchor), 1, `anchor ${anchor}`);
    assertEquals(indexOfBytes(hay, needle, 2, anchor), -1, `from 2, anchor ${anchor}`);
  }
  assertEquals(indexOfBytes(bytes(`"prompt_tokens":`), needle, 0, 7), 0, "the whole haystack");
  assertEquals(indexOfBytes(bytes(`"prompt_tokens"`), needle, 0, 7), -1, "one byte short");
  assertEquals(indexOfBytes(bytes(`_"prompt_tokens":`), needle, 0, 7), 1, "an anchor byte before");
  assertEquals(indexOfBytes(bytes(""), needle, 0, 7), -1);
});

Deno.test("StreamWatch: the first token is a non-empty delta, usage comes from the end", () => {
  const w = new StreamWatch();
  w.see(bytes(`data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n`));
  assertEquals(w.firstTokenAt, 0, "the role chunk carries no token");
  w.see(bytes(`data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n`));
  assert(w.firstTokenAt > 0);
  assertEquals(w.usage, null);
  w.see(bytes(`: usage {"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}\n\n`));
  assertEquals(w.usage, { promptTokens: 12, completionTokens: 5 });

  const last = new StreamWatch();
  last.see(bytes(`data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n`));
  assertEquals(last.usage, { promptTokens: 3, completionTokens: 4 });
});
