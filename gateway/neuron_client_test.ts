import { assertEquals, assertRejects } from "../tests/assert.ts";
import { rawHttp1 } from "../tests/helpers/raw_http1.ts";
import { HTTP2_CONNECTIONS, NeuronClient, STREAMS_PER_CONNECTION } from "./neuron_client.ts";

const TLS = new URL("../tests/fixtures/tls/", import.meta.url).pathname;
const tlsFiles = async () => ({
  cert: await Deno.readTextFile(`${TLS}cert.pem`),
  key: await Deno.readTextFile(`${TLS}key.pem`),
});

/**
 * A neuron stand-in on `Deno.serve` whose answers stay open until `end()`: who asked, from
 * which connection. With `tls`, over https (HTTP/2 offered by ALPN).
 */
function openAnswers(tls?: { cert: string; key: string }) {
  const peers: number[] = [];
  const gate = Promise.withResolvers<void>();
  const opts = { hostname: "127.0.0.1", port: 0, onListen() {}, ...tls };
  const server = Deno.serve(opts, (_req, info) => {
    peers.push(info.remoteAddr.port);
    const body = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(new TextEncoder().encode("data: open\n\n"));
        await gate.promise;
        c.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  return {
    url: `${tls ? "https" : "http"}://127.0.0.1:${server.addr.port}`,
    peers,
    async end() {
      gate.resolve();
      await server.shutdown();
    },
  };
}

Deno.test("NeuronClient: streams share HTTP/2 connections, filled in order, none queued behind a full one", async () => {
  const neuron = openAnswers();
  const client = new NeuronClient({ name: "n", endpoint: neuron.url });
  const C = STREAMS_PER_CONNECTION;
  const n = 250; // more than the 200 streams one connection to a neuron may carry
  const full = Math.floor(n / C);
  const releases: (() => void)[] = [];
  try {
    const answers = await Promise.all(
      Array.from(
        { length: n },
        () =>
          client.fetch(
            "/v1/chat/completions",
            { method: "POST", body: "{}" },
            (r) => releases.push(r),
            true,
          ),
      ),
    );
    assertEquals(answers.every((a) => a.status === 200), true);
    const open = [...Array(full).fill(C), n - full * C];
    assertEquals(client.lanes, { http2: true, open });
    assertEquals(new Set(neuron.peers).size, open.length, "one connection per lane");
    releases.slice(0, 20).forEach((r) => r());
    releases[0](); // a second release of the same request counts once
    assertEquals(client.lanes.open, [C - 20, ...open.slice(1)]);
    await client.fetch("/x", { method: "POST", body: "{}" }, undefined, true)
      .then((r) => r.body?.cancel());
    assertEquals(
      client.lanes.open,
      [C - 20, ...open.slice(1)],
      "without hold, the room is back at the headers",
    );
    await client.fetch("/whole", { method: "POST", body: "{}" }).then((r) => r.body?.cancel());
    assertEquals(new Set(neuron.peers).size, open.length + 1, "a whole answer: HTTP/1.1, apart");
    releases.forEach((r) => r());
    assertEquals(client.lanes.open, open.map(() => 0));
    await Promise.all(answers.map((a) => a.body?.cancel()));
  } finally {
    client.close();
    await neuron.end();
  }
});

Deno.test("NeuronClient: streams past the HTTP/2 connections' room go over HTTP/1.1, one connection each", async () => {
  const neuron = openAnswers();
  const client = new NeuronClient({ name: "n", endpoint: neuron.url });
  const room = HTTP2_CONNECTIONS * STREAMS_PER_CONNECTION;
  const extra = 5;
  const releases: (() => void)[] = [];
  const stream = () =>
    client.fetch(
      "/v1/chat/completions",
      { method: "POST", body: "{}" },
      (r) => releases.push(r),
      true,
    );
  try {
    const answers = await Promise.all(Array.from({ length: room + extra }, stream));
    assertEquals(answers.every((a) => a.status === 200), true);
    assertEquals(client.lanes.open, Array(HTTP2_CONNECTIONS).fill(STREAMS_PER_CONNECTION));
    assertEquals(
      new Set(neuron.peers).size,
      HTTP2_CONNECTIONS + extra,
      "the overflow: a connection per stream",
    );
    assertEquals(releases.length, room, "only HTTP/2 streams hold a place");
    releases[0]();
    answers.push(await stream());
    assertEquals(new Set(neuron.peers).size, HTTP2_CONNECTIONS + extra, "a freed place is taken");
    assertEquals(client.lanes.open, Array(HTTP2_CONNECTIONS).fill(STREAMS_PER_CONNECTION));
    await Promise.all(answers.map((a) => a.body?.cancel()));
  } finally {
    client.close();
    await neuron.end();
  }
});

/** A neuron behind a proxy that speaks only HTTP/1.1: it refuses the HTTP/2 preface. */
function http1Only(answer: string) {
  return rawHttp1((head) =>
    head.startsWith("PRI ")
      ? "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
      : answer
  );
}

Deno.test("NeuronClient: a neuron that does not speak HTTP/2 is asked again over HTTP/1.1, from then on", async () => {
  const neuron = http1Only("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
  const client = new NeuronClient({ name: "n", endpoint: neuron.url });
  try {
    const stream = { method: "POST", body: "{}" };
    const first = await client.fetch("/v1/chat/completions", stream, undefined, true);
    assertEquals(await first.text(), "{}");
    const second = await client.fetch("/v1/chat/completions", stream, undefined, true);
    assertEquals(await second.text(), "{}");
    assertEquals(neuron.heads.map((h) => h.split("\r\n")[0]), [
      "PRI * HTTP/2.0",
      "POST /v1/chat/completions HTTP/1.1",
      "POST /v1/chat/completions HTTP/1.1",
    ]);
    assertEquals(client.lanes, { http2: false, open: [] });
  } finally {
    client.close();
    await neuron.close();
  }
});

Deno.test("NeuronClient: an https neuron whose TLS front offers only HTTP/1.1 gets its streams over HTTP/1.1", async () => {
  const neuron = rawHttp1(
    () => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    await tlsFiles(),
  );
  const caCerts = [await Deno.readTextFile(`${TLS}ca.pem`)];
  const client = new NeuronClient({ name: "n", endpoint: neuron.url, caCerts });
  try {
    const stream = { method: "POST", body: "{}" };
    for (let i = 0; i < 2; i++) {
      const res = await client.fetch("/v1/chat/completions", stream, undefined, true);
      assertEquals(await res.text(), "{}");
    }
    assertEquals(neuron.heads.map((h) => h.split("\r\n")[0]), [
      "POST /v1/chat/completions HTTP/1.1",
      "POST /v1/chat/completions HTTP/1.1",
    ]);
  } finally {
    client.close();
    await neuron.close();
  }
});

Deno.test("NeuronClient: an https neuron offering HTTP/2 shares connections among its streams", async () => {
  const neuron = openAnswers(await tlsFiles());
  const caCerts = [await Deno.readTextFile(`${TLS}ca.pem`)];
  const client = new NeuronClient({ name: "n", endpoint: neuron.url, caCerts });
  const n = STREAMS_PER_CONNECTION + 1;
  try {
    const answers = await Promise.all(
      Array.from(
        { length: n },
        () => client.fetch("/v1/chat/completions", { method: "POST", body: "{}" }, () => {}, true),
      ),
    );
    assertEquals(client.lanes.open, [STREAMS_PER_CONNECTION, 1]);
    assertEquals(new Set(neuron.peers).size, 2, "one connection per lane");
    await Promise.all(answers.map((a) => a.body?.cancel()));
  } finally {
    client.close();
    await neuron.end();
  }
});

Deno.test("NeuronClient: a refused connection is not taken for a neuron without HTTP/2", async () => {
  const neuron = http1Only("");
  await neuron.close(); // nothing listens on its port now
  const client = new NeuronClient({ name: "n", endpoint: neuron.url });
  try {
    await assertRejects(
      () => client.fetch("/v1/chat/completions", { method: "GET" }, undefined, true),
      (e) => e instanceof TypeError,
    );
    assertEquals(client.lanes, { http2: true, open: [0] });
    // What an operator reads in `cortex status`: why, not just "fetch failed".
    await assertRejects(
      () => client.health(),
      (e) => /^n unreachable: tcp connect error: Connection refused/.test((e as Error).message),
    );
  } finally {
    client.close();
  }
});

Deno.test("NeuronClient: a request the gateway aborted is not taken for a neuron without HTTP/2", async () => {
  const neuron = openAnswers();
  const client = new NeuronClient({ name: "n", endpoint: neuron.url });
  try {
    const aborted = new AbortController();
    aborted.abort();
    await assertRejects(() =>
      client.fetch("/health", { method: "GET", signal: aborted.signal }, undefined, true)
    );
    assertEquals(client.lanes, { http2: true, open: [0] });
    await (await client.fetch("/health", { method: "GET" }, undefined, true)).body?.cancel();
    assertEquals(neuron.peers.length, 1);
  } finally {
    client.close();
    await neuron.end();
  }
});
