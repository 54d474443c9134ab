import { z } from "zod";
import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import { CliError, EXIT } from "./cli_error.ts";
import { Client, errorMessageOf, type ServerEvent } from "./client.ts";

function serve(handler: (req: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

const Ok = z.object({ ok: z.literal(true) });

Deno.test("errorMessageOf reads OpenAI, Anthropic and event error shapes", () => {
  assertEquals(errorMessageOf({ error: { message: "no", type: "x" } }), "no");
  assertEquals(errorMessageOf({ type: "error", error: { type: "x", message: "nope" } }), "nope");
  assertEquals(errorMessageOf({ status: 503, error: { message: "down", code: null } }), "down");
  assertEquals(errorMessageOf({ error: "plain" }), "plain");
  assertEquals(errorMessageOf("text"), null);
});

Deno.test("Client sends the API key and checks answers against the schema", async () => {
  let auth: string | null = null;
  const s = serve((req) => {
    auth = req.headers.get("authorization");
    return Response.json(
      new URL(req.url).pathname === "/good" ? { ok: true, extra: 1 } : { ok: 1 },
    );
  });
  try {
    const c = new Client({ url: `${s.url}/v1/`, apiKey: "k1" });
    const { value, raw } = await c.getJson("/good", Ok);
    assertEquals(value, { ok: true });
    assertEquals(raw, { ok: true, extra: 1 });
    assertEquals(auth, "Bearer k1");
    const e = await assertRejects(() => c.getJson("/bad", Ok), /unexpected shape \(ok:/);
    assert(e instanceof CliError && e.exitCode === EXIT.failed);
  } finally {
    await s.close();
  }
});

Deno.test("Client turns error envelopes into failed-operation errors with the server's words", async () => {
  const s = serve(() =>
    Response.json({ error: { message: "model x is not in the catalogue" } }, { status: 404 })
  );
  try {
    const c = new Client({ url: s.url });
    const e = await assertRejects(
      () => c.postJson("/cortex/load", { model: "x" }, Ok),
      /^model x is not in the catalogue \(HTTP 404 from http:\/\/127\.0\.0\.1:\d+\/cortex\/load\)$/,
    );
    assert(e instanceof CliError && e.exitCode === EXIT.failed);
  } finally {
    await s.close();
  }
});

Deno.test("Client hints at --api-key on 401 and names an unreachable server", async () => {
  const s = serve(() => Response.json({ error: { message: "missing key" } }, { status: 401 }));
  const c = new Client({ url: s.url });
  try {
    await assertRejects(() => c.getJson("/cortex/status", Ok), /missing key \(set --api-key/);
  } finally {
    await s.close();
  }
  const e = await assertRejects(() => c.getJson("/cortex/status", Ok), /^cannot reach http/);
  assert(e instanceof CliError && e.exitCode === EXIT.failed);
});

Deno.test("Client.postEvents yields parsed events and refuses a non-stream answer", async () => {
  const s = serve((req) => {
    if (new URL(req.url).pathname === "/json") return Response.json({ ok: true });
    const body = 'event: progress\ndata: {"progress":0.5}\n\n: keepalive\n\n' +
      'event: done\ndata: {"model":"m"}\n\n';
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  try {
    const c = new Client({ url: s.url });
    const seen: ServerEvent[] = [];
    for await (const ev of c.postEvents("/sse", {})) seen.push(ev);
    assertEquals(seen, [
      { event: "progress", data: { progress: 0.5 } },
      { event: "done", data: { model: "m" } },
    ]);
    await assertRejects(async () => {
      for await (const _ of c.postEvents("/json", {})) { /* nothing */ }
    }, /not an event stream/);
  } finally {
    await s.close();
  }
});
