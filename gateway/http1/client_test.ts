import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { ConnectFailedError, Http1Pool, parseHead } from "./client.ts";
import { chunkSize } from "./wire.ts";

const enc = new TextEncoder();

/** A Deno.serve server on a free port that counts the connections it accepted. */
function serve(handler: (req: Request) => Response | Promise<Response>) {
  const remotes = new Set<string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req, info) => {
    remotes.add(`${info.remoteAddr.hostname}:${info.remoteAddr.port}`);
    return handler(req);
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, remotes, server };
}

/**
 * A raw TCP server: `script` gets each accepted connection and the request
 * bytes read so far, and writes whatever answer the test needs.
 */
function rawServer(script: (conn: Deno.Conn, request: string, index: number) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tasks: Promise<void>[] = [];
  const loop = (async () => {
    let i = 0;
    for await (const conn of listener) {
      const index = i++;
      tasks.push((async () => {
        const buf = new Uint8Array(65536);
        const n = await conn.read(buf) ?? 0;
        try {
          await script(conn, new TextDecoder().decode(buf.subarray(0, n)), index);
        } catch {
          // the client went away
        }
      })());
    }
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    async close() {
      listener.close();
      await loop.catch(() => {});
      await Promise.all(tasks);
    },
  };
}

const write = (conn: Deno.Conn, s: string) => conn.write(enc.encode(s));

Deno.test("an answer's fields: read from the parsed head, repeats joined; reply() passes them on", async () => {
  const raw = rawServer(async (conn) => {
    await write(
      conn,
      "HTTP/1.1 200 OK\r\nX-Cortex-Usage: prompt=1;completion=2\r\nvia: a\r\nVia: b\r\n" +
        "content-length: 2\r\n\r\nok",
    );
    conn.close();
  });
  const pool = new Http1Pool(raw.url);
  try {
    const res = await pool.request("GET", "/", {}, null);
    assertEquals(res.header("x-cortex-usage"), "prompt=1;completion=2");
    assertEquals(res.header("via"), "a, b");
    assertEquals(res.header("content-length"), null, "framing fields are consumed");
    assertEquals(res.header("x-missing"), null);
    // The parsed head and the Headers made on demand agree.
    assertEquals(res.header("via"), res.headers.get("via"));
    // A whole body goes out as the same bytes, with its fields as parsed.
    const reply = res.reply();
    assertEquals([reply.status, new TextDecoder().decode(reply.body as Uint8Array)], [200, "ok"]);
    assertEquals(reply.headers, res.fields);
    assertEquals(new TextDecoder().decode(await res.settle()), "ok");
    assertEquals(await res.text(), "ok", "settle() leaves the body to read");
    await assertRejects(() => res.settle(), /already read/);
    await assertRejects(() => res.text(), /already read/);
  } finally {
    pool.close();
    await raw.close();
  }
});

Deno.test("settle() reads a streamed body in and still passes it on whole", async () => {
  const raw = rawServer(async (conn) => {
    await write(conn, 'HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{"a\r\n');
    await new Promise((r) => setTimeout(r, 20));
    await write(conn, '3\r\n":1\r\n1\r\n}\r\n0\r\n\r\n');
    conn.close();
  });
  const pool = new Http1Pool(raw.url);
  try {
    const res = await pool.request("GET", "/", {}, null);
    assertEquals(new TextDecoder().decode(await res.settle()), '{"a":1}');
    const reply = res.reply();
    assertEquals(new TextDecoder().decode(reply.body as Uint8Array), '{"a":1}');
    assertEquals(await res.json(), { a: 1 });
  } finally {
    pool.close();
    await raw.close();
  }
});

Deno.test("a whole answer: status, headers and body; the connection is reused", async () => {
  const { url, remotes, server } = serve(async (req) =>
    Response.json({ got: await req.json(), auth: req.headers.get("authorization") }, {
      status: 201,
      headers: { "x-cortex-usage": "prompt=3;completion=4" },
    })
  );
  const pool = new Http1Pool(url);
  try {
    for (let i = 0; i < 3; i++) {
      const res = await pool.request("POST", "/v1/echo", {
        "content-type": "application/json",
        authorization: "Bearer t",
      }, JSON.stringify({ i, text: "héllo" }));
      assertEquals(res.status, 201);
      assertEquals(res.headers.get("x-cortex-usage"), "prompt=3;completion=4");
      assertEquals(await res.json(), { got: { i, text: "héllo" }, auth: "Bearer t" });
    }
    assertEquals(remotes.size, 1, "three requests in a row share one connection");
    assertEquals(pool.sizes, [1, 0]);
  } finally {
    pool.close();
    await server.shutdown();
  }
});

Deno.test("an endpoint's path prefix and a large body both ways pass intact", async () => {
  const { url, server } = serve(async (req) => {
    const body = new Uint8Array(await req.arrayBuffer());
    return new Response(body.reverse(), { headers: { "x-path": new URL(req.url).pathname } });
  });
  const pool = new Http1Pool(`${url}/prefix/`);
  try {
    const big = new Uint8Array(1_500_000).map((_, i) => i % 251);
    const res = await pool.request("POST", "/x", {}, big);
    assertEquals(res.headers.get("x-path"), "/prefix/x");
    const back = new Uint8Array(await res.arrayBuffer());
    assertEquals(back.length, big.length);
    assertEquals(back, big.slice().reverse());
    assertEquals(pool.sizes, [1, 0], "read to the end, the connection went back to the pool");
  } finally {
    pool.close();
    await server.shutdown();
  }
});

Deno.test("a chunked stream passes each piece on before the next is written", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const { url, server } = serve(() =>
    new Response(
      new ReadableStream({
        async start(c) {
          c.enqueue(enc.encode("data: one\n\n"));
          await gate;
          c.enqueue(enc.encode("data: two\n\n"));
          c.close();
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    )
  );
  const pool = new Http1Pool(url);
  try {
    const res = await pool.request("POST", "/s", {}, "{}");
    assertEquals(res.headers.get("transfer-encoding"), null, "framing is this client's own");
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    assertEquals(dec.decode((await reader.read()).value), "data: one\n\n");
    release();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += dec.decode(r.value);
    assertEquals(rest, "data: two\n\n");
    assertEquals(pool.sizes, [1, 0]);
  } finally {
    pool.close();
    await server.shutdown();
  }
});

Deno.test("chunked framing byte by byte, with extensions and trailers", async () => {
  const answer = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" +
    "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nx-trailer: t\r\n\r\n";
  const srv = rawServer(async (conn) => {
    for (const ch of answer) await write(conn, ch);
    await new Promise((r) => setTimeout(r, 50));
    conn.close();
  });
  const pool = new Http1Pool(srv.url);
  try {
    const res = await pool.request("GET", "/", {}, null);
    assertEquals(await res.text(), "hello 0123456789");
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("interim 100, 204 without a body, and a body that runs to the connection's end", async () => {
  const srv = rawServer(async (conn, _req, i) => {
    if (i === 0) {
      await write(conn, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n");
      // Keep-alive: the next request on this connection gets the close-delimited answer.
      const buf = new Uint8Array(4096);
      await conn.read(buf);
    }
    await write(conn, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the ");
    await write(conn, "end");
    conn.close();
  });
  const pool = new Http1Pool(srv.url);
  try {
    const a = await pool.request("GET", "/a", {}, null);
    assertEquals([a.status, a.headers.get("x-a"), await a.text()], [204, "1", ""]);
    assertEquals(pool.sizes, [1, 0]);
    const b = await pool.request("GET", "/b", {}, null);
    assertEquals(await b.text(), "until the end");
    assertEquals(pool.sizes, [0, 0], "a close-delimited answer's connection is not reused");
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("pooled connections the server closed are replaced without the caller noticing", async () => {
  const srv = rawServer(async (conn, _req, i) => {
    await write(conn, `HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nc${i}`);
    // Keep-alive in name only (a restarted neuron): close as soon as the answer is out.
    await new Promise((r) => setTimeout(r, 20));
    conn.close();
  });
  const pool = new Http1Pool(srv.url);
  try {
    const first = await Promise.all([0, 1, 2].map(() => pool.request("GET", "/", {}, null)));
    assertEquals((await Promise.all(first.map((r) => r.text()))).sort(), ["c0", "c1", "c2"]);
    assertEquals(pool.sizes, [3, 0]);
    await new Promise((r) => setTimeout(r, 60));
    // Every idle connection is stale now; the retry must not pick another of them.
    assertEquals(await (await pool.request("GET", "/", {}, null)).text(), "c3");
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("nothing listening, or a close before any answer: ConnectFailedError", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const dead = new Http1Pool(`http://127.0.0.1:${port}`);
  await assertRejects(
    () => dead.request("GET", "/", {}, null),
    (e) => e instanceof ConnectFailedError,
  );
  dead.close();

  const srv = rawServer((conn) => Promise.resolve(conn.close()));
  const pool = new Http1Pool(srv.url);
  try {
    await assertRejects(
      () => pool.request("GET", "/", {}, null),
      (e) => e instanceof ConnectFailedError && /closed/.test(e.message),
    );
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("a stream cut mid-body errors the reader; a short sized body too", async () => {
  const srv = rawServer(async (conn, req) => {
    if (req.startsWith("GET /chunked")) {
      await write(conn, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\npart\r\n");
    } else {
      await write(conn, "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort");
    }
    await new Promise((r) => setTimeout(r, 20));
    conn.close();
  });
  const pool = new Http1Pool(srv.url);
  try {
    const a = await pool.request("GET", "/chunked", {}, null);
    const reader = a.body!.getReader();
    assertEquals(new TextDecoder().decode((await reader.read()).value), "part");
    await assertRejects(() => reader.read(), /inside a chunked body/);
    const b = await pool.request("GET", "/sized", {}, null);
    await assertRejects(() => b.text(), /5 bytes short/);
    assertEquals(pool.sizes, [0, 0]);
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("aborting mid-stream closes the connection and the server sees it", async () => {
  let cancelled!: () => void;
  const sawCancel = new Promise<void>((r) => cancelled = r);
  const { url, server } = serve(() =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(enc.encode("data: first\n\n"));
        },
        cancel() {
          cancelled();
        },
      }),
    )
  );
  const pool = new Http1Pool(url);
  try {
    const ac = new AbortController();
    const res = await pool.request("POST", "/s", {}, "{}", ac.signal);
    const reader = res.body!.getReader();
    await reader.read();
    const next = reader.read();
    ac.abort();
    await assertRejects(() => next);
    await sawCancel;
    assertEquals(pool.sizes, [0, 0]);
    await assertRejects(
      () => pool.request("POST", "/s", {}, "{}", ac.signal),
      (e) => e.name === "AbortError",
    );
  } finally {
    pool.close();
    await server.shutdown();
  }
});

Deno.test("an answer sent before the whole body was taken is passed on", async () => {
  const srv = rawServer(async (conn) => {
    // Refuse after the first read, without taking the rest of the 4 MB body.
    await write(conn, "HTTP/1.1 413 Payload Too Large\r\ncontent-length: 8\r\n\r\ntoo big!");
    conn.close();
  });
  const pool = new Http1Pool(srv.url);
  try {
    const res = await pool.request("POST", "/big", {}, new Uint8Array(4 << 20));
    assertEquals([res.status, await res.text()], [413, "too big!"]);
    assertEquals(pool.sizes, [0, 0], "a connection whose request was cut short is not reused");
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("a connect that hangs gives up at the timeout, or at once on abort", async () => {
  // Deno.connect stands in for a host that never answers the SYN; what arrives late is closed.
  const real = Deno.connect;
  let late!: (c: Deno.TcpConn) => void;
  let closedLate = false;
  (Deno as { connect: unknown }).connect = () => new Promise((r) => late = r);
  try {
    const pool = new Http1Pool("http://192.0.2.1:9", { connectTimeoutMs: 50 });
    const t0 = performance.now();
    await assertRejects(
      () => pool.request("GET", "/", {}, null),
      (e) => e instanceof ConnectFailedError && /no connection within 50 ms/.test(e.message),
    );
    assert(performance.now() - t0 < 1000);
    late({ close: () => closedLate = true } as unknown as Deno.TcpConn);
    await new Promise((r) => setTimeout(r, 0));
    assert(closedLate, "the connection that came after the timeout was closed");

    const ac = new AbortController();
    const pending = pool.request("GET", "/", {}, null, ac.signal);
    ac.abort();
    await assertRejects(() => pending, (e) => e.name === "AbortError");
  } finally {
    (Deno as { connect: unknown }).connect = real;
  }
});

Deno.test("https endpoints: the certificate is checked, then requests flow and reuse", async () => {
  const dir = new URL("../../tests/fixtures/tls/", import.meta.url);
  const read = (f: string) => Deno.readTextFileSync(new URL(f, dir));
  const remotes = new Set<number>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: read("cert.pem"), key: read("key.pem"), onListen() {} },
    (_req, info) => {
      remotes.add(info.remoteAddr.port);
      return new Response("over tls");
    },
  );
  const url = `https://localhost:${server.addr.port}`;
  const untrusted = new Http1Pool(url);
  const pool = new Http1Pool(url, { caCerts: [read("ca.pem")] });
  try {
    await assertRejects(
      () => untrusted.request("GET", "/", {}, null),
      (e) => e instanceof ConnectFailedError && /certificate/i.test(e.message),
    );
    for (let i = 0; i < 2; i++) {
      assertEquals(await (await pool.request("GET", "/", {}, null)).text(), "over tls");
    }
    assertEquals(remotes.size, 1);
  } finally {
    untrusted.close();
    pool.close();
    await server.shutdown();
  }
});

Deno.test("parseHead: framing decisions and malformed heads", () => {
  const h = parseHead("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n");
  assertEquals([h.status, h.length, h.chunked, h.keepAlive], [200, 5, false, true]);
  assertEquals(h.headers, [["x-a", "b"]], "framing fields are consumed, not passed on");
  const c = parseHead("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n");
  assertEquals([c.length, c.chunked], [-1, true]);
  assertEquals(parseHead("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n").keepAlive, false);
  assertEquals(parseHead("HTTP/1.1 200 OK\r\n").keepAlive, false, "no length: body to the end");
  assertEquals(parseHead("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n", true).noBody, true);
  for (
    const bad of [
      "HTTP/2 200\r\n",
      "HTTP/1.1 200 OK\r\nno colon\r\n",
      "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n",
      "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n",
    ]
  ) {
    assertThrows(() => parseHead(bad), /malformed|content-length/);
  }
});

Deno.test("chunkSize reads 1 to 8 hex digits, whitespace and extensions allowed, else throws", () => {
  const size = (line: string) => chunkSize(enc.encode(line));
  assertEquals(size("1a"), 26);
  assertEquals(size(" 1A\t;name=value"), 26);
  assertEquals(size("0"), 0);
  assertEquals(size("ffffffff"), 0xffffffff);
  assertEquals(size("00000010;"), 16);
  for (const bad of ["", " ", ";ext", "g", "123456789", "1 2", "-1", "0x10", "1a\r"]) {
    assertThrows(() => size(bad), /malformed chunk size/);
  }
});
