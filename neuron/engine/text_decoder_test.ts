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
