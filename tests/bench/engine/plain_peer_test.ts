/** The plain loop on real llama.cpp with the tiny fixture: the floor must itself be right. */

import { assert, assertEquals } from "../../assert.ts";
import { ensureFixture, FIXTURES } from "../../fixtures/mod.ts";
import { openLlamaLibrary } from "../../../neuron/llama/library.ts";
import { PlainPeer } from "./plain_peer.ts";
import { type Setup, type Shape } from "./workload.ts";

async function withPeer(over: Partial<Setup>, fn: (p: PlainPeer) => Promise<void> | void) {
  const setup: Setup = {
    modelPath: await ensureFixture(FIXTURES.plain),
    context: 256,
    slots: 4,
    nBatch: 64,
    threads: 1,
    ...over,
  };
  const peer = await PlainPeer.start(openLlamaLibrary(), setup);
  try {
    await fn(peer);
  } finally {
    await peer.close();
  }
}

/** Greedy tokens per sequence, from an empty cache. */
function tokens(peer: PlainPeer, prompts: number[][], maxTokens: number): number[][] {
  peer.ctx.clear();
  const out = prompts.map((): number[] => []);
  const total = peer.generate(prompts, maxTokens, (seq, t) => out[seq].push(t));
  assertEquals(total, out.reduce((a, s) => a + s.length, 0));
  return out;
}

Deno.test("the prompt source holds ordinary tokens and the vocabulary's BOS", async () => {
  await withPeer({}, (peer) => {
    const src = peer.promptSource();
    const vocab = peer.model.vocab;
    assert(src.pool.length > 100, `pool of ${src.pool.length}`);
    assert(src.pool.every((t) => !vocab.isEog(t) && !vocab.isControl(t)));
    assertEquals(src.bos, vocab.addBos ? 1 : null);
  });
});

Deno.test("sequences batched together generate what each generates alone", async () => {
  await withPeer({}, (peer) => {
    const { pool, bos } = peer.promptSource();
    const prompts = [0, 1, 2].map((i) => [bos ?? pool[0], ...pool.slice(10 * i, 10 * i + 8)]);
    const together = tokens(peer, prompts, 12);
    for (let i = 0; i < prompts.length; i++) {
      assertEquals(together[i], tokens(peer, [prompts[i]], 12)[0], `sequence ${i}`);
      assert(together[i].length >= 1 && together[i].length <= 12);
    }
  });
});

Deno.test("a prompt longer than n_batch is fed in chunks", async () => {
  const prompt = (p: PlainPeer) => p.promptSource().pool.slice(0, 40);
  let whole: number[] = [];
  await withPeer({ nBatch: 64 }, (p) => {
    whole = tokens(p, [prompt(p)], 8)[0];
  });
  await withPeer({ nBatch: 16 }, (p) => {
    assertEquals(tokens(p, [prompt(p)], 8)[0], whole);
  });
});

Deno.test("a round measures prompt tokens and the tokens actually generated", async () => {
  await withPeer({}, async (peer) => {
    const { pool } = peer.promptSource();
    const shape: Shape = {
      promptTokens: 48,
      shortPromptTokens: 6,
      genTokens: 10,
      concurrent: 2,
      concurrentTokens: 7,
    };
    const prompts = {
      long: pool.slice(0, 48),
      single: pool.slice(50, 56),
      concurrent: [pool.slice(60, 66), pool.slice(70, 76)],
    };
    const r = await peer.round(prompts, shape);
    assertEquals(r.prompt.tokens, 48);
    assertEquals(r.single.tokens, tokens(peer, [prompts.single], 10)[0].length);
    assertEquals(
      r.concurrent.tokens,
      peer.lengths(prompts.concurrent, 7).reduce((a, b) => a + b, 0),
    );
    for (const m of [r.prompt, r.single, r.concurrent]) assert(m.ms > 0 && m.cpuMs >= 0);
  });
});
