import { assert, assertEquals, assertNotEquals } from "../../assert.ts";
import { DEFAULT_SHAPE, promptAt, promptsPerRound, roundPrompts } from "./workload.ts";

const pool = Array.from({ length: 200 }, (_, i) => 1000 + i);

Deno.test("round prompts have the shape's lengths and start with BOS then a pool token", () => {
  const p = roundPrompts({ pool, bos: 1 }, 0, DEFAULT_SHAPE);
  assertEquals(p.long.length, DEFAULT_SHAPE.promptTokens);
  assertEquals(p.single.length, DEFAULT_SHAPE.shortPromptTokens);
  assertEquals(p.concurrent.length, DEFAULT_SHAPE.concurrent);
  for (const q of [p.long, p.single, ...p.concurrent]) {
    assertEquals(q[0], 1);
    assert(q.slice(1).every((t) => pool.includes(t)), "every other token comes from the pool");
  }
  const noBos = roundPrompts({ pool, bos: null }, 0, DEFAULT_SHAPE);
  assert(pool.includes(noBos.single[0]));
  assertEquals(noBos.single.length, DEFAULT_SHAPE.shortPromptTokens);
});

Deno.test("every prompt of a run starts differently, warm-up included", () => {
  const firsts: number[] = [];
  for (let round = -1; round < 5; round++) {
    const p = roundPrompts({ pool, bos: 1 }, round, DEFAULT_SHAPE);
    for (const q of [p.long, p.single, ...p.concurrent]) firsts.push(q[1]);
  }
  assertEquals(new Set(firsts).size, firsts.length);
  assertEquals(firsts.length, 6 * promptsPerRound(DEFAULT_SHAPE));
});

Deno.test("prompts are deterministic; another attempt redraws all but the first tokens", () => {
  const src = { pool, bos: null };
  const a = promptAt(src, DEFAULT_SHAPE, 2, 3, 16);
  assertEquals(promptAt(src, DEFAULT_SHAPE, 2, 3, 16), a);
  const b = promptAt(src, DEFAULT_SHAPE, 2, 3, 16, 1);
  assertEquals(b[0], a[0]);
  assertNotEquals(b.slice(1), a.slice(1));
  const r = roundPrompts(src, 2, DEFAULT_SHAPE, [0, 0, 0, 1]);
  assertEquals(r.concurrent[1], b);
});

Deno.test("a pool too small for distinct first tokens is refused, naming the pool", () => {
  const small = { pool: pool.slice(0, 10), bos: null };
  let message = "";
  try {
    roundPrompts(small, 3, DEFAULT_SHAPE);
  } catch (e) {
    message = (e as Error).message;
  }
  assert(message.startsWith("pool:"), message);
});
