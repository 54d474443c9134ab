/**
 * OpenAI chat completions (the neuron's answers) → Ollama answers: whole (`stream: false`)
 * and streamed as NDJSON, one JSON object a line, the last with `done: true` and the
 * counters. A stream that fails ends with an `{"error": "..."}` line, as Ollama's does.
 */
import { parseToolInput } from "../anthropic/from_openai.ts";
import { type ChunkItem, translateChatStream } from "../openai/chunk_stream.ts";
import type { ChatCompletion, ChatCompletionChunk, FinishReason } from "../openai/chat.ts";
import type { Usage } from "../openai/common.ts";
import { HttpError } from "../errors.ts";

/** `/api/chat` answers carry `message`; `/api/generate` answers carry `response`. */
export type OllamaShape = "chat" | "generate";

/** Nanoseconds, as Ollama reports them. */
export interface Durations {
  total_duration: number;
  load_duration: number;
  prompt_eval_duration: number;
  eval_duration: number;
}

export interface OllamaToolCall {
  function: { name: string; arguments: unknown };
}

interface Piece {
  content: string;
  thinking?: string;
  tool_calls?: OllamaToolCall[];
}

export interface OllamaAnswerOptions {
  shape: OllamaShape;
  /** The model name the client asked for. */
  model: string;
  /** Whether reasoning is passed on as `thinking` (false when the client sent `think: false`). */
  thinking: boolean;
}

function line(shape: OllamaShape, model: string, p: Piece, done: boolean) {
  const base = { model, created_at: new Date().toISOString() };
  if (shape === "chat") {
    const message: Record<string, unknown> = { role: "assistant", content: p.content };
    if (p.thinking) message.thinking = p.thinking;
    if (p.tool_calls?.length) message.tool_calls = p.tool_calls;
    return { ...base, message, done };
  }
  return { ...base, response: p.content, ...(p.thinking ? { thinking: p.thinking } : {}), done };
}

function doneReason(finish: FinishReason | null | undefined): string {
  return finish === "length" ? "length" : "stop";
}

function counters(usage: Usage | null | undefined, d: Durations) {
  return {
    total_duration: Math.round(d.total_duration),
    load_duration: Math.round(d.load_duration),
    prompt_eval_count: usage?.prompt_tokens ?? 0,
    prompt_eval_duration: Math.round(d.prompt_eval_duration),
    eval_count: usage?.completion_tokens ?? 0,
    eval_duration: Math.round(d.eval_duration),
  };
}

function toolCalls(calls: { function: { name: string; arguments: string } }[]): OllamaToolCall[] {
  return calls.map((c) => ({
    function: { name: c.function.name, arguments: parseToolInput(c.function.arguments) },
  }));
}

/** A whole chat completion as one Ollama answer. */
export function openAIToOllama(
  resp: ChatCompletion,
  options: OllamaAnswerOptions,
  durations: Durations,
) {
  const choice = resp.choices.find((c) => c.index === 0) ?? resp.choices[0];
  if (!choice) throw new HttpError(502, "upstream returned a completion without choices");
  const m = choice.message;
  const piece: Piece = {
    content: m.content ?? "",
    thinking: options.thinking ? m.reasoning_content ?? undefined : undefined,
    tool_calls: toolCalls(m.tool_calls ?? []),
  };
  return {
    ...line(options.shape, options.model, piece, true),
    done_reason: doneReason(choice.finish_reason),
    ...counters(resp.usage, durations),
  };
}

export interface StreamOptions extends OllamaAnswerOptions {
  /** The durations at the end of the stream (the gateway's clock). */
  durations(firstTokenAt: number | null): Durations;
  /** The clock `firstTokenAt` is read from. */
  now?: () => number;
}

/**
 * A state machine from OpenAI chunks to Ollama lines. Text and reasoning pass on as they
 * arrive; a tool call's arguments are gathered and sent whole (Ollama's object form) when
 * the model finishes. After `finish()` or `fail()` it is `ended` and returns nothing.
 */
export class OllamaStreamTranslator {
  readonly #o: StreamOptions;
  readonly #now: () => number;
  #ended = false;
  #finish: FinishReason | null = null;
  #usage: Usage | null = null;
  #firstTokenAt: number | null = null;
  readonly #tools = new Map<number, { name: string; args: string }>();

  constructor(options: StreamOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** True once a `finish_reason` arrived. */
  get complete(): boolean {
    return this.#finish !== null;
  }

  push(chunk: ChatCompletionChunk): object[] {
    if (this.#ended) return [];
    if (chunk.usage) this.#usage = chunk.usage;
    const out: object[] = [];
    for (const choice of chunk.choices) {
      if (choice.index !== 0) continue;
      const d = choice.delta;
      const content = d.content ?? "";
      const thinking = this.#o.thinking ? d.reasoning_content ?? "" : "";
      for (const t of d.tool_calls ?? []) {
        const s = this.#tools.get(t.index) ?? { name: "", args: "" };
        s.name += t.function?.name ?? "";
        s.args += t.function?.arguments ?? "";
        this.#tools.set(t.index, s);
        this.#firstTokenAt ??= this.#now();
      }
      if (content || thinking) {
        this.#firstTokenAt ??= this.#now();
        out.push(line(this.#o.shape, this.#o.model, { content, thinking }, false));
      }
      if (choice.finish_reason) {
        this.#finish = choice.finish_reason;
        if (this.#tools.size) {
          const calls = [...this.#tools.entries()].sort(([a], [b]) => a - b).map(([, s]) => ({
            function: { name: s.name, arguments: s.args },
          }));
          out.push(
            line(
              this.#o.shape,
              this.#o.model,
              { content: "", tool_calls: toolCalls(calls) },
              false,
            ),
          );
        }
      }
    }
    return out;
  }

  /** The final line: `done: true` with the reason and counters. */
  finish(): object[] {
    if (this.#ended) return [];
    this.#ended = true;
    return [{
      ...line(this.#o.shape, this.#o.model, { content: "" }, true),
      done_reason: doneReason(this.#finish),
      ...counters(this.#usage, this.#o.durations(this.#firstTokenAt)),
    }];
  }

  /** The terminal error line. */
  fail(message: string): object[] {
    if (this.#ended) return [];
    this.#ended = true;
    return [{ error: message }];
  }
}

const enc = new TextEncoder();

/** Objects as NDJSON bytes. */
export function encodeNdjson(lines: readonly object[]): Uint8Array {
  return enc.encode(lines.map((l) => JSON.stringify(l) + "\n").join(""));
}

/** The neuron's chat SSE → Ollama NDJSON, ending in `done: true` or an error line. */
export function ollamaNdjsonFromOpenAI(
  upstream: ReadableStream<Uint8Array>,
  t: OllamaStreamTranslator,
): ReadableStream<Uint8Array> {
  const handle = (item: ChunkItem): object[] => {
    switch (item.kind) {
      case "chunk":
        return t.push(item.chunk);
      case "done":
        return t.finish();
      case "eof":
        return t.complete
          ? t.finish()
          : t.fail("upstream stream ended before the response was complete");
      case "failed":
        return t.fail(item.message);
    }
  };
  return translateChatStream(upstream, handle, () => t.ended, encodeNdjson);
}
