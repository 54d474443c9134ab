import { assertEquals } from "../../tests/assert.ts";
import { StopMatcher } from "./stop_matcher.ts";

function run(stops: string[], pieces: string[]) {
  const m = new StopMatcher(stops);
  let out = "";
  for (const p of pieces) {
    const r = m.push(p);
    out += r.emit;
    if (r.stop) return { out, stop: r.stop };
  }
  return { out: out + m.flush(), stop: undefined };
}

Deno.test("stop string inside one piece cuts there", () => {
  assertEquals(run(["END"], ["abcENDxyz"]), { out: "abc", stop: "END" });
});

Deno.test("stop string split one char per piece never leaks", () => {
  const m = new StopMatcher(["</stop>"]);
  const emitted: string[] = [];
  for (const ch of "hello</stop>after") {
    const r = m.push(ch);
    emitted.push(r.emit);
    if (r.stop) break;
  }
  assertEquals(emitted.join(""), "hello");
});

Deno.test("a false start is released once it cannot match", () => {
  assertEquals(run(["STOP"], ["ab", "ST", "Ox", "yz"]), { out: "abSTOxyz", stop: undefined });
});

Deno.test("held text is flushed at the end", () => {
  assertEquals(run(["STOP"], ["abc", "ST"]), { out: "abcST", stop: undefined });
});

Deno.test("earliest of several stops wins", () => {
  assertEquals(run(["world", "lo w"], ["hello world"]), { out: "hel", stop: "lo w" });
});

Deno.test("no stops: passthrough", () => {
  const m = new StopMatcher([]);
  assertEquals(m.push("abc"), { emit: "abc" });
  assertEquals(m.active, false);
});

Deno.test("overlapping prefix: 'aab' in 'aaab'", () => {
  assertEquals(run(["aab"], ["a", "a", "a", "b", "c"]), { out: "a", stop: "aab" });
});
