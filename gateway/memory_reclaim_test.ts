import { assert, assertEquals } from "../tests/assert.ts";
import {
  openCollect,
  openMallocTrim,
  type Reclaim,
  ReclaimPolicy,
  startMemoryReclaim,
} from "./memory_reclaim.ts";

/** Samples of [load, heap]; what they call for. */
const run = (p: ReclaimPolicy, samples: [number, number][]) =>
  samples.map(([load, heap]) => p.sample(load, heap));

const C: Reclaim = "collect", T: Reclaim = "trim", _: Reclaim = null;

Deno.test("reclaim: collects when a burst falls to a quarter of its peak, then trims as the heap shrinks", () => {
  const p = new ReclaimPolicy(64, 5);
  assertEquals(
    run(p, [
      [0, 30],
      [100, 90],
      [1024, 150],
      [900, 150],
      [256, 150],
      [3, 150],
      [0, 150],
      [0, 60],
      [
        0,
        60,
      ],
      [0, 25],
      [0, 20],
      [0, 10],
    ]),
    [_, _, _, _, C, _, _, T, _, T, _, _],
  );
});

Deno.test("reclaim: collects a second time once the burst's idle connections have closed", () => {
  const p = new ReclaimPolicy(64, 5, 3);
  assertEquals(
    run(p, [[300, 90], [0, 90], [0, 90], [0, 90], [0, 90], [0, 90], [0, 90]]),
    [_, C, _, _, C, _, _],
  );
  // A new burst before then calls that off: its own end collects.
  const q = new ReclaimPolicy(64, 5, 3);
  assertEquals(run(q, [[300, 90], [0, 90], [200, 90], [200, 90], [200, 90]]), [_, C, _, _, _]);
});

Deno.test("reclaim: small loads never trim", () => {
  const p = new ReclaimPolicy(64, 5);
  assertEquals(run(p, [[10, 9], [63, 8], [0, 7], [0, 6], [40, 5], [0, 4]]).some((t) => t), false);
});

Deno.test("reclaim: a new burst ends the watch, and its own end trims again", () => {
  const p = new ReclaimPolicy(64, 5);
  assertEquals(
    run(p, [[200, 50], [10, 50], [500, 40], [400, 30], [0, 30], [0, 20]]),
    [_, C, _, _, C, T],
  );
});

Deno.test("reclaim: malloc_trim opens on glibc Linux and runs", () => {
  const trim = openMallocTrim();
  if (Deno.build.os === "linux") {
    assertEquals(typeof trim, "function");
    trim!();
  } else assertEquals(trim, null);
});

Deno.test("reclaim: V8's gc is exposed and collects what nothing holds", async () => {
  const collect = openCollect();
  assertEquals(typeof collect, "function");
  let ref: WeakRef<object> | null = null;
  (() => {
    ref = new WeakRef({ big: new Uint8Array(1 << 20) });
  })();
  // A WeakRef keeps its target until the job that made it ends.
  await new Promise((r) => setTimeout(r, 0));
  collect!();
  assert(ref!.deref() === undefined, "the object outlived a full collection");
});

Deno.test("reclaim: the timer samples load and heap, collects once and trims twice", async () => {
  const samples: [number, number][] = [[100, 50], [0, 50], [0, 40]];
  let trims = 0;
  let collections = 0;
  const { promise: twice, resolve } = Promise.withResolvers<void>();
  const next = () => samples.shift() ?? [0, 40];
  let heap = 0;
  const r = startMemoryReclaim({
    load: () => {
      const [l, h] = next();
      heap = h;
      return l;
    },
    heap: () => heap,
    trim: () => ++trims === 2 && resolve(),
    collect: () => collections++,
    everyMs: 5,
    minPeak: 64,
  });
  // A deadline for failing, not a measurement: three samples take 15 ms.
  const deadline = setTimeout(() => resolve(), 10_000);
  await twice;
  clearTimeout(deadline);
  r.stop();
  assertEquals(trims, 2);
  assertEquals(collections, 1);
});
