/**
 * The real engine (device worker + scheduler) measured from the main thread, the way the
 * neuron's HTTP layer sees it: from the call to the last event.
 */

import { Engine } from "../../../neuron/engine/engine.ts";
import type { GenerateParams } from "../../../neuron/engine/types.ts";
import {
  type Peer,
  type RoundFigures,
  type RoundPrompts,
  type Setup,
  type Shape,
  timed,
} from "./workload.ts";

const KEY = "bench";

export class EnginePeer implements Peer {
  readonly name = "engine";
  readonly engine: Engine;

  private constructor(engine: Engine) {
    this.engine = engine;
  }

  static async start(setup: Setup): Promise<EnginePeer> {
    const engine = await Engine.start({ logLevel: "warn" });
    try {
      await engine.load(KEY, setup.modelPath, {
        context: setup.context,
        slots: setup.slots,
        nBatch: setup.nBatch,
        nThreads: setup.threads,
        maxQueue: setup.slots,
      });
    } catch (e) {
      await engine.close();
      throw e;
    }
    return new EnginePeer(engine);
  }

  async round(prompts: RoundPrompts, shape: Shape): Promise<RoundFigures> {
    // Prompt tokens the engine actually prefilled (a shared BOS may come from a slot's cache).
    const prompt = await timed(async () => (await this.#generate(prompts.long, 1)).prefilled);
    const single = await timed(async () =>
      (await this.#generate(prompts.single, shape.genTokens)).generated
    );
    const concurrent = await timed(async () => {
      const runs = await Promise.all(
        prompts.concurrent.map((p) => this.#generate(p, shape.concurrentTokens)),
      );
      return runs.reduce((a, r) => a + r.generated, 0);
    });
    return { prompt, single, concurrent };
  }

  /** Runs one greedy request to its end. */
  async #generate(
    prompt: number[],
    maxTokens: number,
  ): Promise<{ prefilled: number; generated: number }> {
    const params: GenerateParams = {
      prompt,
      maxTokens,
      sampling: { temperature: 0 },
      stop: [],
    };
    for await (const ev of this.engine.stream(KEY, params)) {
      if (ev.type === "error") throw new Error(`engine: ${ev.code}: ${ev.message}`);
      if (ev.type === "done") {
        const u = ev.usage;
        return { prefilled: u.promptTokens - u.cachedTokens, generated: u.completionTokens };
      }
    }
    throw new Error("engine: stream ended without a done event");
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}
