import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { parseRequestHead, RequestHeadError } from "./request_head.ts";

const enc = new TextEncoder();
const limits = { maxFields: 100 };
const parse = (head: string) => parseRequestHead(enc.encode(head), limits);

/** The status a malformed head is refused with. */
function refusal(head: string): number {
  try {
    parse(head);
  } catch (e) {
    if (e instanceof RequestHeadError) return e.status;
    throw e;
  }
  throw new Error(`accepted: ${JSON.stringify(head)}`);
}

Deno.test("parseRequestHead: method, target, fields, framing and keep-alive", () => {
  const h = parse(
    "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: gw\r\nContent-Type:application/json \r\n" +
      "X-Include-Thinking: true\r\nContent-Length: 42\r\n\r\n",
  );
  assertEquals(h.method, "POST");
  assertEquals(h.target, "/v1/chat/completions?x=1");
  assertEquals(h.minor, 1);
  assertEquals(h.names, ["host", "content-type", "x-include-thinking", "content-length"]);
  assertEquals(h.values, ["gw", "application/json", "true", "42"]);
  assertEquals([h.length, h.chunked, h.keepAlive, h.expectContinue], [42, false, true, false]);

  const chunked = parse(
    "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: Chunked\r\nexpect: 100-Continue\r\n\r\n",
  );
  assertEquals([chunked.length, chunked.chunked, chunked.expectContinue], [-1, true, true]);
  assertEquals(parse("GET / HTTP/1.1\r\nhost: a\r\n\r\n").length, 0);
  assertEquals(parse("GET / HTTP/1.1\r\nhost: a\r\nconnection: Close\r\n\r\n").keepAlive, false);
  // HTTP/1.0 closes unless it asks to keep the connection; it needs no host.
  assertEquals(parse("GET / HTTP/1.0\r\n\r\n").keepAlive, false);
  assertEquals(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keepAlive, true);
  // HTTP/1.0 clients cannot mean 100-continue (RFC 9110 §10.1.1).
  assertEquals(parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expectContinue, false);
  assertEquals(parse("OPTIONS * HTTP/1.1\r\nhost: a\r\n\r\n").target, "*");
  assertEquals(parse("GET http://gw:1/v1/models HTTP/1.1\r\nhost: a\r\n\r\n").minor, 1);
  // Equal repeats of content-length are one length.
  assertEquals(
    parse("POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\n").length,
    3,
  );
});

Deno.test("parseRequestHead: framing a front proxy could read differently is refused", () => {
  const post = (fields: string) => `POST / HTTP/1.1\r\nhost: a\r\n${fields}\r\n`;
  assertEquals(refusal(post("content-length: 5\r\ntransfer-encoding: chunked\r\n")), 400);
  assertEquals(refusal(post("content-length: 5\r\ncontent-length: 6\r\n")), 400);
  assertEquals(refusal(post("content-length: 5, 5\r\n")), 400);
  assertEquals(refusal(post("content-length: +5\r\n")), 400);
  assertEquals(refusal(post("content-length: 0x5\r\n")), 400);
  assertEquals(refusal(post("transfer-encoding: chunked, gzip\r\n")), 400);
  assertEquals(refusal(post("transfer-encoding: gzip, chunked\r\n")), 501);
  assertEquals(refusal(post("transfer-encoding: chunked\r\ntransfer-encoding: gzip\r\n")), 400);
  assertEquals(refusal("POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n"), 400);
  // Whitespace before the colon, obs-fold, bare LF or CR, NUL: all smuggling material.
  assertEquals(refusal(post("content-length : 5\r\n")), 400);
  assertEquals(refusal(post("x-a: 1\r\n  folded\r\n")), 400);
  assertEquals(refusal("POST / HTTP/1.1\nhost: a\r\n\r\n"), 400);
  assertEquals(refusal(post("x-a: 1\rcontent-length: 5\r\n")), 400);
  assertEquals(refusal(post("x-a: a\0b\r\n")), 400);
  assertEquals(refusal(post(": empty-name\r\n")), 400);
});

Deno.test("parseRequestHead: the request line, host and expectations are checked", () => {
  assertEquals(refusal("GET / HTTP/1.1\r\n\r\n"), 400); // no host
  assertEquals(refusal("GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n"), 400);
  assertEquals(refusal("GET / HTTP/2.0\r\nhost: a\r\n\r\n"), 505);
  assertEquals(refusal("GET / HTTP/1.2\r\nhost: a\r\n\r\n"), 505);
  assertEquals(refusal("GET /a b HTTP/1.1\r\nhost: a\r\n\r\n"), 400);
  assertEquals(refusal("GET  / HTTP/1.1\r\nhost: a\r\n\r\n"), 400);
  assertEquals(refusal("G(T / HTTP/1.1\r\nhost: a\r\n\r\n"), 400);
  assertEquals(refusal("CONNECT gw:443 HTTP/1.1\r\nhost: a\r\n\r\n"), 400);
  assertEquals(refusal("GET * HTTP/1.1\r\nhost: a\r\n\r\n"), 400);
  assertEquals(refusal("GET /ü HTTP/1.1\r\nhost: a\r\n\r\n"), 400);
  assertEquals(refusal("GET / HTTP/1.1\r\nhost: a\r\nexpect: 200-ok\r\n\r\n"), 417);
  const many = Array.from({ length: 101 }, (_, i) => `x-${i}: 1\r\n`).join("");
  assertEquals(refusal(`GET / HTTP/1.1\r\nhost: a\r\n${many}\r\n`), 431);
  assertThrows(
    () => parseRequestHead(new Uint8Array([71, 69, 84, 32, 47, 0xff, 13, 10, 13, 10]), limits),
    /not valid UTF-8/,
  );
});

Deno.test("parseRequestHead: field values keep inner spaces and UTF-8, lose the outer ones", () => {
  const h = parse("GET / HTTP/1.1\r\nhost: a\r\nuser-agent: \t my  client ü \t\r\n\r\n");
  assertEquals(h.values[1], "my  client ü");
});
