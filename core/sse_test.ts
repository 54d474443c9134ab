import assert from "node:assert/strict";
import {
  createSseParserStream,
  encodeSseComment,
  encodeSseData,
  encodeSseDone,
  encodeSseJson,
  formatSseComment,
  formatSseData,
  formatSseJson,
  type SseMessage,
} from "./sse.ts";

const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** Feeds `chunks` through the parser and collects what comes out. */
async function parse(
  chunks: (string | Uint8Array)[],
  options: Parameters<typeof createSseParserStream>[0] = {},
): Promise<SseMessage[]> {
  const source = ReadableStream.from(chunks);
  const out: SseMessage[] = [];
  for await (const m of source.pipeThrough(createSseParserStream(options))) out.push(m);
  return out;
}

Deno.test("formatSseJson writes one data line, with an optional event line", () => {
  assert.equal(formatSseJson({ a: "x\ny" }), 'data: {"a":"x\\ny"}\n\n');
  assert.equal(formatSseJson({ type: "ping" }, "ping"), 'event: ping\ndata: {"type":"ping"}\n\n');
  assert.equal(decode(encodeSseJson([1, 2])), "data: [1,2]\n\n");
});

Deno.test("formatSseData splits multi-line text into several data lines", () => {
  assert.equal(formatSseData("one"), "data: one\n\n");
  assert.equal(formatSseData("a\nb\r\nc", "note"), "event: note\ndata: a\ndata: b\ndata: c\n\n");
  assert.equal(decode(encodeSseData("x")), "data: x\n\n");
});

Deno.test("comment frames and the DONE sentinel", () => {
  assert.equal(formatSseComment(), ": keepalive\n\n");
  assert.equal(formatSseComment("a\nb"), ": a b\n\n");
  assert.equal(decode(encodeSseComment("loading")), ": loading\n\n");
  assert.equal(decode(encodeSseDone()), "data: [DONE]\n\n");
});

Deno.test("parser yields events with names and ids, and [DONE] as done", async () => {
  const out = await parse([
    'data: {"n":1}\n\n',
    "event: message_start\nid: 7\ndata: {}\n\n",
    "data: [DONE]\n\n",
    'data: {"after":true}\n\n',
  ]);
  assert.deepEqual(out, [
    { type: "event", event: undefined, id: undefined, data: '{"n":1}' },
    { type: "event", event: "message_start", id: "7", data: "{}" },
    { type: "done" },
  ]);
});

Deno.test("parser reassembles lines and UTF-8 characters split across chunks", async () => {
  const bytes = new TextEncoder().encode('data: {"t":"héllo ✓"}\r\n\r\ndata: 2\n\n');
  // Split inside the multi-byte "é" and inside the CRLF pair.
  const cuts = [10, 11, 24, 25, bytes.length];
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const cut of cuts) {
    chunks.push(bytes.slice(start, cut));
    start = cut;
  }
  const out = await parse(chunks);
  assert.deepEqual(out.map((m) => m.type === "event" ? m.data : "done"), ['{"t":"héllo ✓"}', "2"]);
});

Deno.test("parser joins multi-line data and reports comments", async () => {
  const comments: string[] = [];
  const out = await parse([": keepalive\n\n", "data: a\ndata: b\n\n"], {
    onComment: (c) => comments.push(c),
  });
  assert.deepEqual(comments, ["keepalive"]);
  assert.deepEqual(out, [{ type: "event", event: undefined, id: undefined, data: "a\nb" }]);
});

Deno.test("parser drops an unterminated event at the end of the input", async () => {
  const out = await parse(['data: {"complete":1}\n\n', 'data: {"cut":']);
  assert.equal(out.length, 1);
});

Deno.test("encoding and parsing round-trip", async () => {
  const payloads = [{ a: 1 }, { text: "line1\nline2" }, { emoji: "🙂" }];
  const out = await parse([...payloads.map((p) => encodeSseJson(p, "x")), encodeSseDone()]);
  assert.deepEqual(
    out.map((m) => (m.type === "event" ? JSON.parse(m.data) : "DONE")),
    [...payloads, "DONE"],
  );
  assert.ok(out.every((m) => m.type === "done" || m.event === "x"));
});

Deno.test("parser errors the stream when the buffer limit is exceeded", async () => {
  await assert.rejects(
    parse(["data: " + "x".repeat(200)], { maxBufferSize: 64 }),
  );
});
