import { HealthSchema, ModelsListSchema } from "../../../core/neuron/schemas.ts";
import { assert, assertEquals } from "../../assert.ts";
import { cannedHandler, cannedHealth, Ticker } from "./canned_backend.ts";
import { SseEventCounter } from "./events.ts";

const opts = { model: "m", chunks: 5, delayMs: 0 };
const post = (body: unknown, headers: Record<string, string> = {}) =>
  cannedHandler(opts)(
    new Request("http://x/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    }),
  );

Deno.test("the canned backend passes the gateway poller's schemas with its model loaded", async () => {
  const handle = cannedHandler(opts);
  const health = HealthSchema.parse(await (await handle(new Request("http://x/health"))).json());
  assertEquals(health.models.map((m) => [m.id, m.state]), [["m", "loaded"]]);
  const models = ModelsListSchema.parse(
    await (await handle(new Request("http://x/models"))).json(),
  );
  assertEquals(models.models[0].id, "m");
  assertEquals(HealthSchema.safeParse(cannedHealth("m", Date.now())).success, true);
});

Deno.test("a whole answer carries usage; an unknown model is a 404", async () => {
  const res = await post({ model: "m", messages: [] });
  assertEquals(res.headers.get("content-type"), "application/json");
  const body = await res.json();
  assertEquals(body.usage.completion_tokens, 5);
  // The header the neuron sends with a whole answer, which the gateway's accounting reads.
  assertEquals(
    res.headers.get("x-cortex-usage"),
    `prompt=${body.usage.prompt_tokens};completion=5;ttft_ms=0.1`,
  );
  assertEquals((await post({ model: "other", messages: [] })).status, 404);
});

Deno.test("a stream has the role event, `chunks` token events, finish, usage comment, [DONE]", async () => {
  const text = await (await post({ model: "m", stream: true }, { "x-cortex-usage": "1" })).text();
  const events = text.split("\n\n").filter(Boolean);
  assertEquals(events.length, 1 + 5 + 1 + 1 + 1);
  assert(events[0].includes(`"role":"assistant"`));
  assert(events[6].includes(`"finish_reason":"length"`));
  assert(events[7].startsWith(": usage "));
  assertEquals(events[8], "data: [DONE]");
  const counter = new SseEventCounter();
  assertEquals(counter.push(new TextEncoder().encode(text)), 9);
  assert(counter.endedWithDone);
  const plain = await (await post({ model: "m", stream: true })).text();
  assert(!plain.includes(": usage"), "no usage comment unless the gateway asks");
});

Deno.test("a smaller max_tokens shortens a stream, and its usage says so", async () => {
  const text = await (await post({ model: "m", stream: true, max_tokens: 2 }, {
    "x-cortex-usage": "1",
  })).text();
  const events = text.split("\n\n").filter(Boolean);
  assertEquals(events.length, 1 + 2 + 1 + 1 + 1);
  assert(events[4].includes(`"completion_tokens":2`), events[4]);
  const long = await (await post({ model: "m", stream: true, max_tokens: 99 })).text();
  assertEquals(long.split("\n\n").filter(Boolean).length, 1 + 5 + 1 + 1);
});

Deno.test("streams with a pause share one ticker, which stops when the last one ends", async () => {
  const handle = cannedHandler({ model: "m", chunks: 3, delayMs: 5 });
  const open = () =>
    handle(
      new Request("http://x/v1/chat/completions", {
        method: "POST",
        body: JSON.stringify({ model: "m", stream: true }),
      }),
    );
  const texts = await Promise.all([open(), open(), open()].map(async (r) => (await r).text()));
  for (const t of texts) assertEquals(t.split("\n\n").filter(Boolean).length, 1 + 3 + 1 + 1);
  // A client that leaves mid-stream takes its stream off the ticker (or the test leaks it).
  const left = await open();
  const reader = left.body!.getReader();
  await reader.read();
  await reader.cancel();
});

Deno.test("Ticker calls every member each tick and runs only while it has members", async () => {
  const ticker = new Ticker(2);
  let a = 0;
  let b = 0;
  const ta = () => a++;
  const tb = () => {
    if (++b === 3) ticker.delete(tb);
  };
  ticker.add(ta);
  ticker.add(tb);
  await new Promise((r) => setTimeout(r, 40));
  assertEquals(b, 3);
  assert(a > 3, `a ticked ${a} times`);
  ticker.delete(ta);
  assertEquals(ticker.size, 0);
});
