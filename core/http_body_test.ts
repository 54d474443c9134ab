import { assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import { HttpError } from "./errors.ts";
import { parseJsonText, readBodyLimited } from "./http_body.ts";

const post = (body: BodyInit, headers: Record<string, string> = {}) =>
  new Request("http://x/", { method: "POST", body, headers });

Deno.test("a declared length over the limit is refused before reading", async () => {
  const e = await assertRejects(() =>
    readBodyLimited(post("x".repeat(20), { "content-length": "20" }), 10)
  );
  assertEquals((e as HttpError).status, 413);
});

Deno.test("an undeclared body is counted as it arrives", async () => {
  const stream = () =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new Uint8Array(5).fill(65));
        c.close();
      },
    });
  assertEquals((await readBodyLimited(post(stream()), 100)).length, 20);
  const e = await assertRejects(() => readBodyLimited(post(stream()), 12));
  assertEquals((e as HttpError).status, 413);
});

Deno.test("parseJsonText: empty and malformed bodies are 400s that say so", () => {
  assertEquals(parseJsonText('{"a":1}'), { a: 1 });
  assertThrows(() => parseJsonText("  "), /empty/);
  assertThrows(() => parseJsonText("{nope"), /not valid JSON/);
});
