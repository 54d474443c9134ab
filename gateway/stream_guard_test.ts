import { HttpError } from "../core/errors.ts";
import { assert, assertEquals, assertMatch } from "../tests/assert.ts";
import { chunkReader, guard, openaiErrorFrame, type StreamOutcome } from "./stream_guard.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A loopback server whose answer body is `chunks`, written one by one. */
function serveChunks(chunks: string[]) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    let i = 0;
    return new Response(
      new ReadableStream({
        async pull(c) {
          await new Promise((r) => setTimeout(r, 2));
          if (i < chunks.length) c.enqueue(enc.encode(chunks[i++]));
          else c.close();
        },
      }),
    );
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

async function readAll(r: ReturnType<typeof chunkReader>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let c = await r.read(); c; c = await r.read()) out.push(c);
  return out;
}

Deno.test("chunkReader: a fetch body comes out whole, each chunk a copy of its own", async () => {
  const parts = ["data: one\n\n", "data: two\n\n", "x".repeat(20_000), "data: end\n\n"];
  const s = serveChunks(parts);
  try {
    const res = await fetch(s.url);
    const chunks = await readAll(chunkReader(res.body!));
    assertEquals(chunks.map((c) => dec.decode(c)).join(""), parts.join(""));
    // Chunks never share the reused read buffer: each has a buffer of its own size.
    for (const c of chunks) assertEquals(c.buffer.byteLength, c.byteLength);
  } finally {
    await s.close();
  }
});

Deno.test("chunkReader: a stream that is not a byte stream is read as it is", async () => {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(enc.encode("a"));
      c.enqueue(enc.encode("b"));
      c.close();
    },
  });
  assertEquals((await readAll(chunkReader(body))).map((c) => dec.decode(c)), ["a", "b"]);
});

/**
 * An upstream under the test's control, guarded: `out` is what the client reads, `outcome`
 * how the guard said the stream ended, `seen` what it watched go by.
 */
function guarded(
  idleMs = 5000,
  errorFrame: typeof openaiErrorFrame | undefined = openaiErrorFrame,
  signal?: AbortSignal,
) {
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  let cancelled: unknown = false;
  const body = new ReadableStream<Uint8Array>({
    start: (c) => void (ctl = c),
    cancel: (reason) => void (cancelled = reason ?? true),
  });
  const state = { outcome: undefined as StreamOutcome | undefined, seen: [] as string[] };
  const out = guard(body, {
    idleMs,
    watch: (c) => state.seen.push(dec.decode(c)),
    errorFrame,
    onEnd: (o) => state.outcome = o,
    signal,
  });
  return { ctl, out, state, cancelled: () => cancelled };
}

async function text(s: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(s).text();
}

Deno.test("guard: chunks pass through watched; a clean end is ok", async () => {
  const g = guarded();
  g.ctl.enqueue(enc.encode("data: a\n\n"));
  g.ctl.enqueue(enc.encode("data: b\n\n"));
  g.ctl.close();
  assertEquals(await text(g.out), "data: a\n\ndata: b\n\n");
  assertEquals(g.state.seen, ["data: a\n\n", "data: b\n\n"]);
  assertEquals(g.state.outcome, "ok");
});

Deno.test("guard: a neuron failing mid-stream ends it with an error frame", async () => {
  const g = guarded();
  g.ctl.enqueue(enc.encode("data: a\n\n"));
  const reader = g.out.getReader();
  assertEquals(dec.decode((await reader.read()).value), "data: a\n\n");
  g.ctl.error(new Error("connection reset"));
  let t = "";
  for (let r = await reader.read(); !r.done; r = await reader.read()) t += dec.decode(r.value);
  assertMatch(t, /^data: \{"error":\{"message":"the neuron failed mid-stream: connection reset"/);
  assertMatch(t, /data: \[DONE\]\n\n$/);
  assertEquals(g.state.outcome, "upstream_failed");
});

Deno.test("guard: a silent neuron is given up on after idleMs and cancelled", async () => {
  const g = guarded(150);
  g.ctl.enqueue(enc.encode("data: a\n\n"));
  const t0 = performance.now();
  const t = await text(g.out);
  assert(performance.now() - t0 < 2000);
  assertMatch(t, /no data for 0.15 s/);
  assertEquals(g.state.outcome, "upstream_failed");
  assert(g.cancelled() !== false, "the upstream was cancelled");
});

Deno.test("guard: the gateway's own cut (request_timeout) keeps its code; a client leaving cancels", async () => {
  const cut = guarded();
  cut.ctl.error(new HttpError(504, "too long", { code: "timeout" }));
  assertMatch(await text(cut.out), /"message":"too long".*"code":"timeout"/);
  assertEquals(cut.state.outcome, "timeout");

  const left = guarded(5000, undefined);
  await left.out.cancel("client left");
  assertEquals(left.state.outcome, "client_closed");
  assertEquals(left.cancelled(), "client left");
});

Deno.test("guard: the request's abort ends the stream: the gateway's reason as a frame, a client's quietly", async () => {
  const shutdown = new AbortController();
  const g = guarded(5000, openaiErrorFrame, shutdown.signal);
  g.ctl.enqueue(enc.encode("data: a\n\n"));
  const reader = g.out.getReader();
  assertEquals(dec.decode((await reader.read()).value), "data: a\n\n");
  shutdown.abort(new HttpError(503, "the gateway is shutting down", { code: "shutting_down" }));
  let t = "";
  for (let r = await reader.read(); !r.done; r = await reader.read()) t += dec.decode(r.value);
  assertMatch(t, /"message":"the gateway is shutting down".*"code":"shutting_down"/);
  assertEquals(g.state.outcome, "upstream_failed");
  assert(g.cancelled() !== false, "the upstream was cancelled");

  const client = new AbortController();
  const h = guarded(5000, openaiErrorFrame, client.signal);
  client.abort();
  assertEquals(await text(h.out), "");
  assertEquals(h.state.outcome, "client_closed");
});

Deno.test("guard: the neuron is read as it writes, and a client too far behind is cut", async () => {
  let up!: ReadableStreamDefaultController<Uint8Array>;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    start: (c) => void (up = c),
    cancel: () => void (cancelled = true),
  }, { highWaterMark: 0 });
  let outcome: StreamOutcome | undefined;
  const out = guard(body, { idleMs: 5000, maxBacklogBytes: 120, onEnd: (o) => outcome = o });
  const reader = out.getReader();
  const event = (i: number) => enc.encode(`data: ${String(i).padStart(4, "0")}\n\n`); // 12 bytes
  const tick = () => new Promise((r) => setTimeout(r, 0));
  // A client that keeps up keeps its stream, however much passes.
  for (let i = 1; i <= 30; i++) {
    up.enqueue(event(i));
    assertEquals(dec.decode((await reader.read()).value), dec.decode(event(i)));
  }
  // One that stops reading: the guard still takes each event from the neuron (over HTTP/2
  // that gives the connection's window back), until 120 bytes wait for the client.
  for (let i = 31; i <= 40; i++) {
    up.enqueue(event(i));
    await tick();
    assertEquals(up.desiredSize, 0, `event ${i} was taken from the neuron`);
  }
  assertEquals([outcome, cancelled], [undefined, false], "120 bytes behind: still served");
  up.enqueue(event(41));
  await tick();
  assertEquals([outcome, cancelled], ["client_closed", true], "past 120 bytes: cut");
  const err = await reader.read().then(() => null, (e) => e);
  assertMatch(String(err), /stopped reading/);
});
