import { assert, assertEquals, assertMatch } from "../../tests/assert.ts";
import { HttpError } from "../../core/errors.ts";
import type { IncomingRequest } from "./incoming.ts";
import type { Reply } from "./reply.ts";
import { type Handler, serveHttp1, type ServerOptions } from "./server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A server on a free port; HttpErrors from the handler become their status. */
function start(handler: Handler, opts: Partial<ServerOptions> = {}) {
  const server = serveHttp1({ hostname: "127.0.0.1", port: 0, ...opts }, async (req) => {
    try {
      return await handler(req);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      return text(e.message, e.status);
    }
  });
  return { server, port: server.addr.port, [Symbol.asyncDispose]: () => server.shutdown() };
}

function text(body: string, status = 200, headers: [string, string][] = []): Reply {
  return { status, headers: [["content-type", "text/plain"], ...headers], body: enc.encode(body) };
}

/** Writes `bytes` on a new connection and reads until the server closes it (or `ms` pass). */
async function exchange(port: number, bytes: string | Uint8Array, ms = 3000): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(typeof bytes === "string" ? enc.encode(bytes) : bytes);
    return await readToEnd(conn, ms);
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

async function readToEnd(conn: Deno.Conn, ms: number): Promise<string> {
  let out = "";
  const buf = new Uint8Array(65536);
  const timer = setTimeout(() => conn.close(), ms);
  try {
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return out;
      out += dec.decode(buf.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Reads until `text` contains `until`. */
async function readUntil(conn: Deno.Conn, until: string, sofar = ""): Promise<string> {
  const buf = new Uint8Array(65536);
  while (!sofar.includes(until)) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`closed before ${JSON.stringify(until)}: ${sofar}`);
    sofar += dec.decode(buf.subarray(0, n));
  }
  return sofar;
}

/** The answers in `raw`, split at each status line. */
const answers = (raw: string) => raw.split(/(?=HTTP\/1\.1 \d{3} )/).filter(Boolean);
const statuses = (raw: string) => answers(raw).map((a) => Number(a.slice(9, 12)));
const bodies = (raw: string) => answers(raw).map((a) => a.slice(a.indexOf("\r\n\r\n") + 4));

const echo: Handler = async (req) => {
  const body = await req.bytes(1024);
  return text(`${req.method} ${req.path} ${req.headers.get("x-n") ?? "-"} ${dec.decode(body)}`);
};

Deno.test("http1 server: keep-alive and pipelining answer in order, framed by length", async () => {
  await using s = start(echo);
  const raw = await exchange(
    s.port,
    "POST /a?q=1 HTTP/1.1\r\nHost: x\r\nX-N: 1\r\nContent-Length: 5\r\n\r\nhello" +
      "GET /b/../c HTTP/1.1\r\nHost: x\r\nX-N: 2\r\n\r\n" +
      "\r\nPOST /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
  );
  assertEquals(statuses(raw), [200, 200, 200]);
  assertEquals(bodies(raw), ["POST /a 1 hello", "GET /c 2 ", "POST /d - ok"]);
  assertMatch(raw, /content-length: 15\r\n/);
  assertMatch(raw, /date: \w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT\r\n/);
  assertMatch(raw, /connection: close\r\n\r\nPOST \/d - ok$/);
});

Deno.test("http1 server: chunked bodies are decoded; 100-continue before the body", async () => {
  await using s = start(echo);
  const raw = await exchange(
    s.port,
    "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nx-trailer: 1\r\n\r\n",
  );
  assertMatch(raw, /\r\n\r\nPOST \/up - abcde$/);

  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  await conn.write(enc.encode(
    "POST /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
  ));
  // Nothing of the body is sent until the go-ahead.
  const interim = await readUntil(conn, "\r\n\r\n");
  assertEquals(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  await conn.write(enc.encode("xyz"));
  assertMatch(await readToEnd(conn, 3000), /^HTTP\/1\.1 200 OK[^]*POST \/c - xyz$/);
  conn.close();
});

Deno.test("http1 server: malformed or smuggling heads get their status and a closed connection", async () => {
  let calls = 0;
  await using s = start((req) => {
    calls++;
    return echo(req);
  });
  const cases: [string, number][] = [
    ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\n\r\n", 400],
    ["GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505],
    ["POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501],
    ["GET / HTTP/1.1\r\nHost: x\r\nExpect: later\r\n\r\n", 417],
    [`GET / HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(70_000)}\r\n\r\n`, 431],
  ];
  for (const [head, status] of cases) {
    // A valid request pipelined after a bad one is never served: the connection ends.
    const raw = await exchange(s.port, head + "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    assertEquals(statuses(raw), [status], head.slice(0, 60));
    assertMatch(raw, /connection: close\r\n/);
  }
  assertEquals(calls, 0);
  // A chunked body that breaks its framing is the handler's 400, and the connection closes.
  const bad = await exchange(
    s.port,
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n" +
      "GET /next HTTP/1.1\r\nHost: x\r\n\r\n",
  );
  assertEquals(statuses(bad), [400]);
});

Deno.test("http1 server: body limits: 413 before reading a declared length, or while counting", async () => {
  await using s = start(echo);
  const declared = await exchange(
    s.port,
    `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n${"a".repeat(1000)}`,
  );
  assertEquals(statuses(declared), [413]);
  assertMatch(declared, /connection: close/);
  const counted = await exchange(
    s.port,
    `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n${
      "a".repeat(2048)
    }\r\n`,
  );
  assertEquals(statuses(counted), [413]);
  // A small unread body is dropped and the connection carries the next request.
  await using s2 = start((req) => text(`no body read for ${req.path}`));
  const kept = await exchange(
    s2.port,
    "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd" +
      "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  assertEquals(statuses(kept), [200, 200]);
  assertMatch(kept, /for \/b$/);
});

Deno.test("http1 server: a client that goes away aborts its request's signal", async () => {
  let aborted: () => void;
  const seen = new Promise<void>((r) => aborted = r);
  let entered: () => void;
  const inHandler = new Promise<void>((r) => entered = r);
  await using s = start(async (req) => {
    await req.bytes(100);
    entered();
    await new Promise<void>((r) => req.signal.addEventListener("abort", () => r()));
    aborted();
    return text("late");
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  await conn.write(enc.encode("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"));
  await inHandler;
  conn.close();
  await seen;
});

Deno.test("http1 server: streams go out chunked, each piece at once; a leaving client cancels", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let cancelled!: (reason: unknown) => void;
  const cancel = new Promise((r) => cancelled = r);
  await using s = start((req) => {
    const body = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(enc.encode("data: 1\n\n"));
        if (req.path === "/cut") return; // stays open until the client leaves
        await gate;
        c.enqueue(enc.encode("data: 2\n\n"));
        c.close();
      },
      cancel: (r) => cancelled(r),
    });
    return { status: 200, headers: [["content-type", "text/event-stream"]], body };
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  await conn.write(enc.encode("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  // The first piece arrives while the stream is still open.
  const first = await readUntil(conn, "data: 1\n\n\r\n");
  assertMatch(first, /transfer-encoding: chunked\r\n/);
  assertMatch(first, /\r\n\r\n9\r\ndata: 1\n\n\r\n$/);
  release();
  assertEquals(await readToEnd(conn, 3000), "9\r\ndata: 2\n\n\r\n0\r\n\r\n");
  conn.close();

  const cut = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  await cut.write(enc.encode("GET /cut HTTP/1.1\r\nHost: x\r\n\r\n"));
  await readUntil(cut, "data: 1");
  cut.close();
  await cancel;
});

Deno.test("http1 server: HEAD, no-body statuses, HTTP/1.0 and standard Responses", async () => {
  await using s = start((req) => {
    if (req.path === "/json") return Response.json({ ok: true }, { headers: { "x-a": "1" } });
    if (req.path === "/none") return { status: 204, headers: [], body: null };
    if (req.path === "/sse") {
      return new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(enc.encode("data: x\n\n"));
            c.close();
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    }
    return text("hello");
  });
  const head = await exchange(s.port, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  assertMatch(head, /content-length: 5\r\n/);
  assert(head.endsWith("\r\n\r\n"), "no body after the head");
  const json = await exchange(s.port, "GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  assertMatch(json, /x-a: 1\r\n[^]*content-length: 11\r\n[^]*\r\n\r\n\{"ok":true\}$/);
  const none = await exchange(s.port, "GET /none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  assertMatch(none, /^HTTP\/1\.1 204 No Content\r\n/);
  assert(!/content-length|transfer-encoding/.test(none), none);
  // HTTP/1.0: answered, then closed; a stream runs to the connection's end, not chunked.
  const old = await exchange(s.port, "GET / HTTP/1.0\r\n\r\n");
  assertMatch(old, /connection: close\r\n\r\nhello$/);
  const oldSse = await exchange(s.port, "GET /sse HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  assertMatch(oldSse, /connection: close\r\n\r\ndata: x\n\n$/);
  const kept = await exchange(
    s.port,
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
  );
  assertEquals(statuses(kept), [200, 200]);
  assertMatch(kept, /connection: keep-alive\r\n/);
});

Deno.test("http1 server: idle connections and slow heads are closed at their deadlines", async () => {
  await using s = start(echo, { idleTimeoutMs: 150, headTimeoutMs: 150, sweepMs: 25 });
  const t0 = performance.now();
  assertEquals(await exchange(s.port, new Uint8Array(0), 3000), "");
  assert(performance.now() - t0 < 2000, "an idle connection is closed");
  const slow = await exchange(s.port, "GET / HTTP/1.1\r\nHo", 3000);
  assertEquals(slow, "");
});

Deno.test("http1 server: shutdown closes idle connections and lets a busy one finish", async () => {
  let entered!: () => void;
  const inHandler = new Promise<void>((r) => entered = r);
  let finish!: () => void;
  const gate = new Promise<void>((r) => finish = r);
  const s = start(async (req) => {
    if (req.path === "/slow") {
      entered();
      await gate;
    }
    return text("done");
  });
  const idle = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  await idle.write(enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  await readUntil(idle, "done");
  const busy = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  await busy.write(enc.encode("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  await inHandler;
  const stopped = s.server.shutdown();
  assertEquals(await readToEnd(idle, 3000), "", "the idle connection is closed at once");
  finish();
  const last = await readToEnd(busy, 3000);
  assertMatch(last, /connection: close\r\n\r\ndone$/);
  await stopped;
  await Deno.connect({ hostname: "127.0.0.1", port: s.port }).then(
    (c) => {
      c.close();
      throw new Error("still accepting");
    },
    () => {},
  );
  idle.close();
  busy.close();
});

Deno.test("http1 server: answer fields that would split the head are dropped", async () => {
  await using s = start(() => ({
    status: 200,
    headers: [
      ["x-ok", "1"],
      ["x-bad", "a\r\nset-cookie: evil"],
      ["x-evil: 1\r\nx-name", "v"],
      ["content-length", "999"],
      ["Transfer-Encoding", "chunked"],
    ],
    body: enc.encode("hi"),
  }));
  const raw = await exchange(s.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  assertMatch(raw, /x-ok: 1\r\n/);
  assert(!raw.includes("evil") && !raw.includes("999"), raw);
  assert(!/transfer-encoding/i.test(raw), "framing fields are the server's, in any case");
  assertMatch(raw, /content-length: 2\r\n/);
});

Deno.test("http1 server: the request's fields read like Headers", async () => {
  let req!: IncomingRequest;
  await using s = start((r) => {
    req = r;
    return text("ok");
  });
  await exchange(
    s.port,
    "GET /f HTTP/1.1\r\nHost: x\r\nX-Multi: a\r\nx-multi: b\r\nConnection: close\r\n\r\n",
  );
  assertEquals(req.headers.get("X-MULTI"), "a, b");
  assertEquals(req.headers.has("x-multi"), true);
  assertEquals(req.headers.get("x-none"), null);
  const seen: string[] = [];
  req.headers.forEach((v, k) => seen.push(`${k}=${v}`));
  assertEquals(seen, ["host=x", "x-multi=a", "x-multi=b", "connection=close"]);
});

Deno.test("http1 server: a refused upload may go on sending: its rest is read and dropped, no reset", async () => {
  await using s = start(echo);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  await conn.write(enc.encode("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n"));
  // Keep sending after the answer was written, as an uploading client does: closing with
  // unread input resets the connection, and clients that see their upload fail on a reset
  // report that instead of the answer. The server reads and drops what still comes.
  const part = new Uint8Array(64 * 1024).fill(97);
  await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 8; i++) {
    await conn.write(part);
    await new Promise((r) => setTimeout(r, 10));
  }
  const raw = await readToEnd(conn, 5000);
  assertEquals(statuses(raw), [413]);
  assertMatch(raw, /exceeds the 1024-byte limit/);
  conn.close();
});

Deno.test("http1 server: a client that stops reading is dropped and its stream cancelled", async () => {
  let cancelled!: () => void;
  const cancel = new Promise<void>((r) => cancelled = r);
  await using s = start(() => ({
    status: 200,
    headers: [["content-type", "text/event-stream"]],
    body: new ReadableStream<Uint8Array>({
      pull: (c) => c.enqueue(new Uint8Array(256 * 1024).fill(100)),
      cancel: () => cancelled(),
    }, { highWaterMark: 0 }),
  }), { writeTimeoutMs: 200, sweepMs: 50 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  await conn.write(enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  await cancel; // never read a byte: the writes stall, the deadline passes
  conn.close();
});

Deno.test("http1 server: requests split into single bytes parse the same", async () => {
  await using s = start(echo);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  conn.setNoDelay(true);
  const wire = "POST /a HTTP/1.1\r\nHost: x\r\nX-N: 1\r\nContent-Length: 5\r\n\r\nhello" +
    "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" +
    "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const reading = readToEnd(conn, 10_000);
  for (const byte of enc.encode(wire)) {
    await conn.write(new Uint8Array([byte]));
    await new Promise((r) => setTimeout(r, 0));
  }
  const raw = await reading;
  assertEquals(bodies(raw), ["POST /a 1 hello", "POST /b - ok", "GET /c - "]);
  conn.close();
});

Deno.test("http1 server: chunk lines and trailers outside RFC 9112 are refused", async () => {
  await using s = start(echo);
  const post = (chunks: string) =>
    exchange(s.port, `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}`);
  for (
    const bad of [
      " 3\r\nabc\r\n0\r\n\r\n", // whitespace before the size
      "3 \r\nabc\r\n0\r\n\r\n", // after it, with no extension
      "3;a\rb\r\nabc\r\n0\r\n\r\n", // a bare CR in an extension
      "3;\x01\r\nabc\r\n0\r\n\r\n", // a control character
      "3\r\nabc\r\n0\r\nGET /smuggled HTTP/1.1\r\n\r\n", // a trailer that is no field
      "3\r\nabc\r\n0\r\nX\rY: z\r\n\r\n",
    ]
  ) {
    assertEquals(statuses(await post(bad)), [400], JSON.stringify(bad));
  }
  const fine = await post("3 ;ext=1\r\nabc\r\n0\r\nx-sum: 1\r\n\r\n");
  assertEquals(bodies(fine), ["POST / - abc"]);
});

Deno.test("http1 server: a body trickling in is cut at its total deadline", async () => {
  await using s = start(echo, { bodyTimeoutMs: 200, sweepMs: 20 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  await conn.write(enc.encode("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"));
  const t0 = performance.now();
  // One byte every 100 ms never stalls for the 200 ms per-read timeout; the total (5 × 200
  // ms) ends it anyway.
  let closed = false;
  for (let i = 0; i < 40 && !closed; i++) {
    await new Promise((r) => setTimeout(r, 100));
    closed = await conn.write(enc.encode("a")).then(() => false, () => true);
  }
  if (!closed) closed = (await readToEnd(conn, 1000)).length >= 0;
  const took = performance.now() - t0;
  assert(closed && took < 3000, `still open after ${took} ms`);
  conn.close();
});

Deno.test("http1 server: a large answer to a slow but steady reader is not cut", async () => {
  // Past what the kernel's socket buffers absorb, so the server's writes do wait on the reader.
  const big = new Uint8Array(16 * 1024 * 1024).fill(120);
  await using s = start(() => ({ status: 200, headers: [], body: big }), {
    writeTimeoutMs: 300,
    sweepMs: 20,
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  await conn.write(enc.encode("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const buf = new Uint8Array(128 * 1024);
  let got = 0;
  const t0 = performance.now();
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    got += n;
    await new Promise((r) => setTimeout(r, 15)); // about 8 MB/s at most: 2 s in all
  }
  const head = 80; // status line, date, content-length, connection
  assert(performance.now() - t0 > 1000, "the answer took far longer than the write timeout");
  assert(got > big.length && got < big.length + head + 100, `read ${got} bytes`);
  conn.close();
});

Deno.test("http1 server: an unread body after Expect: 100-continue closes the connection", async () => {
  await using s = start(() => text("no", 401));
  const raw = await exchange(
    s.port,
    "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
  );
  assertEquals(statuses(raw), [401]);
  assertMatch(raw, /connection: close\r\n/);
});
