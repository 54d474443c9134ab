import { assertEquals, assertThrows } from "../../assert.ts";
import { postRequest, ResponseReader } from "./http_reader.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Feeds `wire` cut at `cut` and returns the status, the body and whether it ended. */
function read(wire: string, cut: number) {
  let body = "";
  const r = new ResponseReader((buf, start, end) => body += dec.decode(buf.subarray(start, end)));
  const bytes = enc.encode(wire);
  r.push(bytes.slice(0, cut));
  // A reused read buffer longer than what was read: only `len` bytes count.
  const rest = new Uint8Array(bytes.length + 10);
  rest.set(bytes.subarray(cut));
  r.push(rest, bytes.length - cut);
  return { status: r.status, body, ended: r.ended };
}

Deno.test("ResponseReader de-chunks a body cut anywhere, extensions and trailers too", () => {
  const wire = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" +
    "Transfer-Encoding: chunked\r\n\r\n" +
    "b\r\ndata: 1\n\nab\r\n" + "12;ext=1\r\ndata: 2\n\ndata: 3\n\n\r\n" + "0\r\nx-t: 1\r\n\r\n";
  for (let cut = 0; cut <= wire.length; cut++) {
    assertEquals(read(wire, cut), {
      status: 200,
      body: "data: 1\n\nabdata: 2\n\ndata: 3\n\n",
      ended: true,
    }, `cut at ${cut}`);
  }
  const cutShort = wire.slice(0, wire.indexOf("0\r\n"));
  assertEquals(read(cutShort, 40).ended, false);
});

Deno.test("ResponseReader: Content-Length bodies, bodies to the close, error statuses", () => {
  const json = "HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\n{}{}";
  assertEquals(read(json, 20), { status: 404, body: "{}{}", ended: true });
  const close = "HTTP/1.0 200 OK\r\n\r\ndata: a\n\n";
  assertEquals(read(close, 30), { status: 200, body: "data: a\n\n", ended: false });
  const empty = "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
  assertEquals(read(empty, 5), { status: 204, body: "", ended: true });
  assertThrows(() => read("SSH-2.0-x\r\n\r\n", 3), /status line/);
});

Deno.test("postRequest frames a JSON POST with its length", () => {
  const body = `{"model":"m","content":"é"}`;
  const text = dec.decode(postRequest(new URL("http://127.0.0.1:81/v1/chat?x=1"), body));
  const [head, sent] = text.split("\r\n\r\n");
  assertEquals(head.split("\r\n")[0], "POST /v1/chat?x=1 HTTP/1.1");
  assertEquals(head.includes("host: 127.0.0.1:81"), true);
  assertEquals(head.includes(`content-length: ${enc.encode(body).length}`), true);
  assertEquals(sent, body);
});
