/**
 * Running one generation for an HTTP request: accepted-or-refused before
 * any response byte is sent, then events pulled in order, with the model's
 * in-flight count and last-use time kept for the gateway's routing.
 */

import { HttpError } from "../../core/errors.ts";
import type {
  EngineEvent,
  GenerateParams,
  SamplingParams,
  SpeculativeMode,
} from "../engine/types.ts";
import { EngineError } from "../engine/types.ts";
import type { ModelRecord, Neuron } from "../node.ts";
import { engineHttpError } from "../server/http.ts";

export type DoneEvent = Extract<EngineEvent, { type: "done" }>;

export class Run {
  #queue: EngineEvent[] = [];
  #wake: (() => void) | null = null;
  #ended = false;
  #cancel: () => void = () => {};
  #rec: ModelRecord;
  #onEnd: (ev: EngineEvent) => void;

  constructor(rec: ModelRecord, onEnd: (ev: EngineEvent) => void) {
    this.#rec = rec;
    this.#onEnd = onEnd;
  }

  /** @internal */
  attach(cancel: () => void) {
    this.#cancel = cancel;
  }

  /** @internal */
  push(ev: EngineEvent) {
    if (this.#ended) return;
    this.#queue.push(ev);
    if (ev.type === "done" || ev.type === "error") {
      this.#end();
      this.#onEnd(ev);
    }
    this.#wake?.();
  }

  #end() {
    if (this.#ended) return;
    this.#ended = true;
    this.#rec.inFlight--;
    this.#rec.lastUsed = Date.now();
  }

  /** Next event, or null after the last one. `timeoutMs` resolves "idle" when nothing came. */
  async next(timeoutMs?: number): Promise<EngineEvent | "idle" | null> {
    while (true) {
      const ev = this.#queue.shift();
      if (ev) return ev;
      if (this.#ended) return null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = await new Promise<boolean>((resolve) => {
        this.#wake = () => resolve(false);
        if (timeoutMs !== undefined) timer = setTimeout(() => resolve(true), timeoutMs);
      });
      clearTimeout(timer);
      this.#wake = null;
      if (idle && !this.#queue.length) return "idle";
    }
  }

  /** Stops generation (client gone); the slot frees at the next engine step. */
  cancel(): void {
    if (!this.#ended) this.#cancel();
  }
}

/**
 * Submits a generation and waits for the engine to accept it, so refusals
 * (queue full, prompt too long, bad grammar) become proper HTTP errors.
 */
export async function startRun(
  neuron: Neuron,
  rec: ModelRecord,
  params: GenerateParams,
  endpoint: string,
): Promise<Run> {
  const run = new Run(rec, (ev) => {
    if (ev.type === "done") {
      rec.speculation.drafted_tokens += ev.usage.draftedTokens;
      rec.speculation.accepted_tokens += ev.usage.acceptedTokens;
      neuron.onFinished?.(rec.key, endpoint, ev.finishReason, ev.usage);
    } else if (ev.type === "error") neuron.onFinished?.(rec.key, endpoint, ev.code);
  });
  rec.inFlight++;
  rec.lastUsed = Date.now();
  const h = neuron.engine.generate(rec.key, params, (ev) => run.push(ev));
  run.attach(() => h.cancel());
  const first = await run.next();
  if (first === null || first === "idle") throw new HttpError(500, "generation ended unexpectedly");
  if (first.type === "error") {
    throw engineHttpError(
      new EngineError(first.code, first.message, first.limit),
      rec.key,
      endpoint === "chat" ? "messages" : "prompt",
      contextHint(rec),
    );
  }
  return run;
}

/**
 * What a too-long refusal adds after OpenAI's words: the model's trained length and how to
 * raise the context a request gets (agents read the first sentence; people read this).
 */
export function contextHint(rec: ModelRecord): string | undefined {
  const trained = rec.summary.contextLength;
  const ctx = rec.info?.context;
  if (!trained || !ctx) return undefined;
  if (ctx >= trained) return `The model was trained for ${trained} tokens: that is its limit.`;
  return `The model was trained for ${trained} tokens; this neuron gives each request ${ctx} ` +
    `(${rec.info!.slots} slots, ${rec.kvCacheType} KV cache). To raise it, set \`context\` in ` +
    `neuron.toml or \`context_length\` in models.toml (up to ${trained}), use fewer slots, ` +
    `set kv_cache_type = "q8_0", or give the device more memory.`;
}

/**
 * The request's `speculative` extension, checked against the model: drafting with a draft
 * model the model was loaded without is refused by name (silently plain would mislead).
 */
export function speculativeFrom(
  r: { speculative?: SpeculativeMode | null },
  rec: ModelRecord,
): SpeculativeMode | undefined {
  if (r.speculative === "draft" && rec.speculation.draft === null) {
    throw new HttpError(
      400,
      `speculative: model ${rec.key} was loaded without a draft model (set \`draft\` in its ` +
        `profile), so it can draft with "ngram" or not at all ("off")`,
      { param: "speculative", code: "invalid_value" },
    );
  }
  return r.speculative ?? undefined;
}

function outsideVocabulary(param: string, id: number, nVocab: number): HttpError {
  return new HttpError(
    400,
    `${param}: token ${id} is outside the model's vocabulary (${nVocab} tokens)`,
    { param, code: "invalid_value" },
  );
}

/**
 * Token ids given as a prompt or input (a list of ids, or lists of them), checked against the
 * model's vocabulary here, where the field is known: the engine would refuse them unnamed.
 */
export function checkTokenIds(value: unknown, nVocab: number, field: string): void {
  if (!Array.isArray(value)) return;
  value.forEach((x, j) => {
    if (typeof x === "number" && x >= nVocab) throw outsideVocabulary(`${field}[${j}]`, x, nVocab);
    if (!Array.isArray(x)) return;
    x.forEach((t, i) => {
      if (t >= nVocab) throw outsideVocabulary(`${field}[${j}][${i}]`, t, nVocab);
    });
  });
}

/**
 * OpenAI sampling fields (already validated) → engine parameters. `vocabSize`: the model's;
 * a logit_bias token outside it is refused (llama.cpp would ignore it: a bias not honoured).
 */
export function samplingFrom(req: {
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  seed?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  repeat_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
}, vocabSize: number): SamplingParams {
  const bias: Record<number, number> = {};
  for (const [k, v] of Object.entries(req.logit_bias ?? {})) {
    const id = Number(k);
    if (id >= vocabSize) throw outsideVocabulary(`logit_bias.${k}`, id, vocabSize);
    bias[id] = v;
  }
  return {
    temperature: req.temperature ?? 1,
    topP: req.top_p ?? undefined,
    topK: req.top_k ?? undefined,
    minP: req.min_p ?? undefined,
    seed: req.seed ?? undefined,
    presencePenalty: req.presence_penalty ?? undefined,
    frequencyPenalty: req.frequency_penalty ?? undefined,
    repeatPenalty: req.repeat_penalty ?? undefined,
    logitBias: Object.keys(bias).length ? bias : undefined,
  };
}

export function stopList(stop: string | string[] | null | undefined): string[] {
  if (stop == null) return [];
  return (typeof stop === "string" ? [stop] : stop).filter((s) => s.length > 0);
}
