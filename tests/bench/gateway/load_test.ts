import { assert, assertEquals, assertMatch, assertThrows } from "../../assert.ts";
import { cannedHandler } from "./canned_backend.ts";
import { FetchLoad, parseWrkOutput, wrkScript } from "./load.ts";

Deno.test("parseWrkOutput reads the script's result line, counting non-2xx as errors", () => {
  const out = "Running 2s test @ http://x\nWRK_RESULT " +
    `{"requests":2010,"duration_us":2000000,"p50_us":250.5,"p99_us":1200.0,"errors":3,"non2xx":10}\n`;
  const r = parseWrkOutput(out);
  assertEquals(r.rps, 1000);
  assertEquals(r.p50Ms, 0.2505);
  assertEquals(r.p99Ms, 1.2);
  assertEquals(r.errors, 13);
  assertEquals(r.requests, 2010);
});

Deno.test("parseWrkOutput fails loudly when wrk printed no result", () => {
  assertThrows(() => parseWrkOutput("unable to connect to 127.0.0.1:1"), /no result/);
});

Deno.test("wrkScript embeds the body as a Lua string literal that reads back unchanged", () => {
  const body = `{"content":"a \\"quote\\" and \\\\ slash\nnext line"}`;
  const s = wrkScript(body);
  const literal = /^wrk\.body = "((?:[^"\\]|\\.)*)"$/m.exec(s);
  if (!literal) throw new Error(`no wrk.body line in:\n${s}`);
  const unescaped = literal[1].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
  assertEquals(unescaped, body);
  assertMatch(s, /^wrk\.method = "POST"$/m);
});

Deno.test("FetchLoad drives a server with keep-alive clients and times each answer", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    cannedHandler({ model: "m", chunks: 2, delayMs: 0 }),
  );
  try {
    const url = `http://127.0.0.1:${server.addr.port}/v1/chat/completions`;
    const r = await new FetchLoad().run({
      url,
      body: JSON.stringify({ model: "m", messages: [] }),
      clients: 2,
      seconds: 0.3,
    });
    assertEquals(r.errors, 0);
    assert(r.requests > 10 && r.rps > 30, `only ${r.requests} requests`);
    assert(r.p50Ms > 0 && r.p99Ms >= r.p50Ms);
    const bad = await new FetchLoad().run({
      url,
      body: JSON.stringify({ model: "other" }),
      clients: 1,
      seconds: 0.1,
    });
    assertEquals(bad.rps, 0);
    assert(bad.errors > 0, "404 answers count as errors");
  } finally {
    await server.shutdown();
  }
});
