import { assertEquals } from "../../assert.ts";
import { SseEventCounter } from "./events.ts";

const enc = new TextEncoder();
const token = `data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n`;
const role = `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n`;
const stream = role + token + token + ": usage {}\n\n" + token + "data: [DONE]\n\n";

Deno.test("SseEventCounter counts events split anywhere across reads, and sees [DONE]", () => {
  for (let cut = 1; cut < stream.length; cut++) {
    const c = new SseEventCounter();
    const n = c.push(enc.encode(stream.slice(0, cut))) + c.push(enc.encode(stream.slice(cut)));
    assertEquals(n, 6, `cut at ${cut}`);
    assertEquals(c.events, 6);
    assertEquals(c.endedWithDone, true, `cut at ${cut}`);
  }
});

Deno.test("SseEventCounter reads ranges of a reused buffer, one byte at a time too", () => {
  const bytes = enc.encode(stream);
  const buf = new Uint8Array(64).fill(10); // stale newlines past the range must not count
  const c = new SseEventCounter();
  for (const b of bytes) {
    buf[3] = b;
    c.push(buf, 3, 4);
  }
  assertEquals(c.events, 6);
  assertEquals(c.endedWithDone, true);
  assertEquals(c.push(buf, 5, 5), 0);
});

Deno.test("SseEventCounter: an event ends once per blank line; a cut stream has no [DONE]", () => {
  const c = new SseEventCounter();
  assertEquals(c.push(enc.encode(token.slice(0, -1))), 0);
  assertEquals(c.push(enc.encode("\n")), 1);
  assertEquals(c.push(enc.encode("data: x\n\n\ndata: y\n\n")), 2);
  assertEquals(c.endedWithDone, false);
  assertEquals(new SseEventCounter().endedWithDone, false);
});
