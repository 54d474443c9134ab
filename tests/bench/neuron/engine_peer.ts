/**
 * The engine called in this process, as the neuron's HTTP layer calls it: the floor the
 * HTTP API is measured against.
 */

import { ChatTemplate } from "../../../neuron/chat/template.ts";
import { Engine } from "../../../neuron/engine/engine.ts";
import type { LoadedModelInfo } from "../../../neuron/engine/types.ts";
import type { NeuronSetup } from "./http_peer.ts";
import {
  type BenchPrompt,
  type Peer,
  type RequestFigures,
  type RequestSpec,
  TEMPLATE_KWARGS,
} from "./workload.ts";

const KEY = "bench";

export class InProcessPeer implements Peer {
  readonly name = "engine";
  readonly engine: Engine;
  readonly #info: LoadedModelInfo;
  readonly #template: ChatTemplate;

  private constructor(engine: Engine, info: LoadedModelInfo) {
    this.engine = engine;
    this.#info = info;
    this.#template = new ChatTemplate(info.chatTemplate, { bos: info.bosText, eos: info.eosText });
  }

  static async start(setup: NeuronSetup): Promise<InProcessPeer> {
    const engine = await Engine.start({ logLevel: "warn" });
    try {
      // The options the neuron derives from its neuron.toml for the same load.
      const info = await engine.load(KEY, setup.modelPath, {
        context: setup.context,
        slots: 1,
        nBatch: setup.nBatch,
        nThreads: setup.threads,
        maxQueue: 4,
      });
      return new InProcessPeer(engine, info);
    } catch (e) {
      await engine.close();
      throw e;
    }
  }

  /** The prompt the neuron's chat endpoint renders for one user message (see neuron/api/chat.ts). */
  prompt(text: string): BenchPrompt {
    const rendered = this.#template.render({
      messages: [{ role: "user", content: text }],
      addGenerationPrompt: true,
      kwargs: { ...TEMPLATE_KWARGS },
    });
    const info = this.#info;
    return {
      text,
      rendered,
      addSpecial: info.addBos && !(info.bosText && rendered.startsWith(info.bosText)),
    };
  }

  async run(spec: RequestSpec): Promise<RequestFigures> {
    const t0 = performance.now();
    let ttftMs = NaN;
    const stream = this.engine.stream(KEY, {
      prompt: spec.prompt.rendered,
      addSpecial: spec.prompt.addSpecial,
      maxTokens: spec.maxTokens,
      sampling: { temperature: 0, logitBias: spec.logitBias },
      stop: [],
    });
    for await (const ev of stream) {
      const now = performance.now() - t0;
      if (ev.type === "error") throw new Error(`engine: ${ev.code}: ${ev.message}`);
      if (ev.type === "delta" && Number.isNaN(ttftMs)) ttftMs = now;
      if (ev.type === "done") {
        return {
          ttftMs: Number.isNaN(ttftMs) ? now : ttftMs,
          endMs: now,
          promptTokens: ev.usage.promptTokens,
          completionTokens: ev.usage.completionTokens,
        };
      }
    }
    throw new Error("engine: the stream ended without a done event");
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}
