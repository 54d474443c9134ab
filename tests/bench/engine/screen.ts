/**
 * Random-weight models sometimes emit end-of-generation early, which would leave the
 * generation figures measuring fewer tokens (and, for 4 streams, thinner batches) than
 * asked. Every peer evaluates the same tokens greedily on the same llama.cpp build, so
 * prompts are screened once with the plain loop: a prompt whose greedy continuation stops
 * early is redrawn. Peers still count the tokens they actually generate.
 */

import type { PlainPeer } from "./plain_peer.ts";
import {
  type PromptSource,
  promptsPerRound,
  type RoundPrompts,
  roundPrompts,
  type Shape,
} from "./workload.ts";

export function screenedPrompts(
  plain: PlainPeer,
  src: PromptSource,
  round: number,
  shape: Shape,
  maxDraws = 64,
): RoundPrompts {
  const attempts: number[] = new Array(promptsPerRound(shape)).fill(0);
  let single = true;
  // Concurrent prompts still to check, by index into `attempts` (2 + i for stream i).
  let concurrent = Array.from({ length: shape.concurrent }, (_, i) => 2 + i);
  for (let draw = 0; draw < maxDraws; draw++) {
    const p = roundPrompts(src, round, shape, attempts);
    if (single) {
      if (plain.lengths([p.single], shape.genTokens)[0] === shape.genTokens) single = false;
      else attempts[1]++;
    }
    if (concurrent.length) {
      // Screened together, as they will run.
      const ps = concurrent.map((i) => p.concurrent[i - 2]);
      const lengths = plain.lengths(ps, shape.concurrentTokens);
      concurrent = concurrent.filter((i, j) => {
        if (lengths[j] === shape.concurrentTokens) return false;
        attempts[i]++;
        return true;
      });
    }
    if (!single && !concurrent.length) return roundPrompts(src, round, shape, attempts);
  }
  throw new Error(
    `no prompts found in ${maxDraws} draws whose greedy continuation runs ${shape.genTokens} tokens`,
  );
}
