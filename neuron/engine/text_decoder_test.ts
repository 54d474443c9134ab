import { assertEquals } from "../../tests/assert.ts";
import { IncrementalDecoder } from "./text_decoder.ts";

Deno.test("a 4-byte character split over four pieces comes out whole, once", () => {
  const bytes = new TextEncoder().encode("a😀b");
  const d = new IncrementalDecoder();
  const out = [...bytes].map((b) => d.push(new Uint8Array([b])));
  assertEquals(out, ["a", "", "", "", "😀", "b"]);
  assertEquals(d.flush(), "");
});

Deno.test("invalid bytes become replacement characters, never throw", () => {
  const d = new IncrementalDecoder();
  assertEquals(d.push(new Uint8Array([0xff, 0x41])), "\uFFFDA");
  assertEquals(d.push(new Uint8Array([0xe4, 0xb8])), "");
  assertEquals(d.flush(), "\uFFFD");
});

Deno.test("valid UTF-8 decodes as TextDecoder does, however it is split", () => {
  const text = "plain ASCII, é, ß, 中文, 日本語, €, 😀🎉, \u0800\uffff\u{10000}\u{10ffff}";
  const bytes = new TextEncoder().encode(text);
  for (const size of [1, 2, 3, 5, 7]) {
    const d = new IncrementalDecoder();
    let out = "";
    for (let i = 0; i < bytes.length; i += size) out += d.push(bytes.subarray(i, i + size));
    assertEquals(out + d.flush(), text, `pieces of ${size}`);
  }
});

Deno.test("an ill-formed sequence is one U+FFFD, as llama.cpp's grammar counts it", () => {
  const cases: [number[], string][] = [
    [[0xe0, 0x8b, 0xb3], "\uFFFD"], // overlong 3-byte form
    [[0xf0, 0x8b, 0x86, 0xbd], "\uFFFD"], // overlong 4-byte form
    [[0xc0, 0x80], "\uFFFD"], // overlong 2-byte NUL
    [[0xed, 0xa0, 0x80], "\uFFFD"], // a surrogate
    [[0xf4, 0x90, 0x80, 0x80], "\uFFFD"], // U+110000
    [[0xf6, 0x81, 0x85, 0x86], "\uFFFD"], // lead byte beyond U+10FFFF
    [[0xfb, 0x81, 0xbf, 0xa3], "\uFFFD"],
    [[0x80, 0x41], "\uFFFDA"], // a stray continuation byte
    [[0xe4, 0xb8, 0x41], "\uFFFDA"], // cut short by an ASCII byte
    [[0x61, 0xe0, 0x8b, 0xb3, 0x62], "a\uFFFDb"],
  ];
  for (const [bytes, want] of cases) {
    const d = new IncrementalDecoder();
    const out = bytes.map((b) => d.push(new Uint8Array([b]))).join("") + d.flush();
    assertEquals(out, want, bytes.map((b) => b.toString(16)).join(" "));
  }
});
