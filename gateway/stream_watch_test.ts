import { assert, assertEquals } from "../tests/assert.ts";
import { eventsEnd, indexOfBytes, StreamWatch } from "./stream_watch.ts";

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

Deno.test("StreamWatch: usage split across reads, down to one byte at a time, is found", () => {
  const events = `data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n` +
    `: usage {"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}\n\n`;
  for (const size of [1, 2, 7, 30]) {
    const w = new StreamWatch();
    const all = bytes(events);
    for (let i = 0; i < all.length; i += size) w.see(all.slice(i, i + size));
    assert(w.firstTokenAt > 0, `first token, reads of ${size}`);
    assertEquals(w.usage, { promptTokens: 12, completionTokens: 5 }, `usage, reads of ${size}`);
  }
});

Deno.test("StreamWatch: done once the neuron's [DONE] goes by, in whatever reads it came", () => {
  const events = `data: {"choices":[{"index":0,"delta":{"content":"[DONE]"}}]}\n\n` +
    `: usage {"prompt_tokens":1,"completion_tokens":1}\n\ndata: [DONE]\n\n`;
  for (const size of [1, 5, 200]) {
    const w = new StreamWatch();
    const all = bytes(events);
    for (let i = 0; i < all.length; i += size) {
      w.see(all.slice(i, i + size));
      if (i + size < all.length - 2) {
        assertEquals(w.done, false, `before the end, reads of ${size}`);
      }
    }
    assertEquals(w.done, true, `reads of ${size}`);
  }
});

Deno.test("eventsEnd: the end of the last whole event, 0 when none ended", () => {
  assertEquals(eventsEnd(bytes("data: a\n\n")), 9);
  assertEquals(eventsEnd(bytes("data: a\n\ndata: b")), 9);
  assertEquals(eventsEnd(bytes("data: a\n\ndata: b\n")), 9);
  assertEquals(eventsEnd(bytes("data: a\n")), 0);
  assertEquals(eventsEnd(bytes("")), 0);
  assertEquals(eventsEnd(bytes("\n\n")), 2);
});
