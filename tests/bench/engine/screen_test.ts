import { assertEquals, assertThrows } from "../../assert.ts";
import { ensureFixture, FIXTURES } from "../../fixtures/mod.ts";
import { openLlamaLibrary } from "../../../neuron/llama/library.ts";
import { PlainPeer } from "./plain_peer.ts";
import { screenedPrompts } from "./screen.ts";
import type { Shape } from "./workload.ts";

const shape: Shape = {
  promptTokens: 32,
  shortPromptTokens: 6,
  genTokens: 40,
  concurrent: 3,
  concurrentTokens: 40,
};

Deno.test("screened prompts run to full length greedily, alone and together", async () => {
  const peer = await PlainPeer.start(openLlamaLibrary(), {
    modelPath: await ensureFixture(FIXTURES.plain),
    context: 128,
    slots: 3,
    nBatch: 64,
    threads: 1,
  });
  try {
    const src = peer.promptSource();
    for (const round of [0, 1, 2]) {
      const p = screenedPrompts(peer, src, round, shape);
      assertEquals(peer.lengths([p.single], shape.genTokens), [shape.genTokens]);
      assertEquals(peer.lengths(p.concurrent, shape.concurrentTokens), [40, 40, 40]);
      assertEquals(p.long.length, shape.promptTokens);
    }
    assertThrows(() => screenedPrompts(peer, src, 0, shape, 0), /no prompts found in 0 draws/);
  } finally {
    await peer.close();
  }
});
