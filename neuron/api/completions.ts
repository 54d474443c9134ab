/**
 * `POST /v1/completions`: raw prompts, no template. The text is everything
 * the model wrote: reasoning stays in it, wrapped in the model's markers.
 */

import { HttpError } from "../../core/errors.ts";
import { CompletionRequestSchema, parseOpenAIBody } from "../../core/openai/mod.ts";
import { encodeSseComment, encodeSseDone, encodeSseJson } from "../../core/sse.ts";
import type { Neuron } from "../node.ts";
import { json } from "../server/http.ts";
import { ChatOutput, type Piece } from "./chat_output.ts";
import { KEEPALIVE_MS } from "./chat.ts";
import {
  checkTokenIds,
  type DoneEvent,
  type Run,
  samplingFrom,
  speculativeFrom,
  startRun,
  stopList,
} from "./generation.ts";
import { rawGrammar } from "./grammar.ts";

export async function completions(
  neuron: Neuron,
  input: unknown,
  signal?: AbortSignal,
): Promise<Response> {
  const r = parseOpenAIBody(CompletionRequestSchema, input);
  const rec = neuron.loaded(r.model);
  const info = rec.info!;
  if (r.suffix) {
    throw new HttpError(400, "suffix (fill-in-the-middle) is not supported", {
      param: "suffix",
      code: "unsupported_parameter",
    });
  }
  // Any number asks for them (0: the sampled tokens' own log probabilities only).
  if (r.logprobs != null) {
    throw new HttpError(400, "logprobs are not supported", {
      param: "logprobs",
      code: "unsupported_parameter",
    });
  }
  const prompts: (string | number[])[] = typeof r.prompt === "string"
    ? [r.prompt]
    : typeof r.prompt[0] === "number"
    ? [r.prompt as number[]]
    : r.prompt as (string | number[])[];
  if (r.stream && prompts.length > 1) {
    throw new HttpError(400, "streaming takes a single prompt", { param: "prompt" });
  }
  checkTokenIds(r.prompt, info.nVocab, "prompt");
  const sampling = { ...samplingFrom(r, info.nVocab), grammar: rawGrammar(r) };
  const speculative = speculativeFrom(r, rec);
  const started: { run: Run; prompt: string | number[] }[] = [];
  try {
    for (const p of prompts) {
      const run = await startRun(neuron, rec, {
        prompt: p,
        addSpecial: typeof p === "string",
        maxTokens: r.max_tokens ?? 16, // OpenAI's documented default for completions
        sampling,
        stop: stopList(r.stop),
        speculative,
      }, "completions");
      started.push({ run, prompt: p });
    }
  } catch (e) {
    for (const s of started) s.run.cancel();
    throw e;
  }
  const meta = {
    id: `cmpl-${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`,
    object: "text_completion",
    created: Math.floor(Date.now() / 1000),
    model: r.model,
  };
  const out = () => new ChatOutput({ includeThinking: true, markers: info.markers, tools: null });
  const text = (pieces: Piece[]) => pieces.map((p) => p.content ?? "").join("");
  const echo = (p: string | number[]) => (r.echo && typeof p === "string" ? p : "");

  if (!r.stream) {
    // A client that hangs up before the answer stops the generations too.
    signal?.addEventListener("abort", () => started.forEach((s) => s.run.cancel()), { once: true });
    const choices = [];
    let prompt = 0;
    let completion = 0;
    let ttft = 0;
    for (const [index, s] of started.entries()) {
      const o = out();
      let t = echo(s.prompt);
      let done: DoneEvent | undefined;
      while (true) {
        const ev = await s.run.next();
        if (ev === null || ev === "idle") break;
        if (ev.type === "start" && ev.reasoning) t += text(o.startInReasoning());
        else if (ev.type === "delta") t += text(o.push(ev.deltas));
        else if (ev.type === "error") throw new HttpError(500, ev.message, { code: ev.code });
        else if (ev.type === "done") done = ev;
      }
      t += text(o.finish());
      prompt += done?.usage.promptTokens ?? 0;
      completion += done?.usage.completionTokens ?? 0;
      ttft ||= done?.timings.ttftMs ?? 0;
      choices.push({
        index,
        text: t,
        logprobs: null,
        finish_reason: done?.finishReason === "length" ? "length" : "stop",
        stop_reason: done?.stop ?? null,
      });
    }
    return json(
      {
        ...meta,
        choices,
        usage: {
          prompt_tokens: prompt,
          completion_tokens: completion,
          total_tokens: prompt + completion,
        },
      },
      200,
      { "x-cortex-usage": `prompt=${prompt};completion=${completion};ttft_ms=${ttft.toFixed(1)}` },
    );
  }

  const { run, prompt } = started[0];
  const o = out();
  const chunk = (t: string, finish: string | null = null, stop: string | null = null) =>
    encodeSseJson({
      ...meta,
      choices: [{
        index: 0,
        text: t,
        logprobs: null,
        finish_reason: finish,
        ...(finish ? { stop_reason: stop } : {}),
      }],
    });
  const body = new ReadableStream<Uint8Array>({
    async start(c) {
      try {
        if (echo(prompt)) c.enqueue(chunk(echo(prompt)));
        while (true) {
          const ev = await run.next(KEEPALIVE_MS);
          if (ev === null) break;
          if (ev === "idle") c.enqueue(encodeSseComment());
          else if (ev.type === "start" && ev.reasoning) {
            const t = text(o.startInReasoning());
            if (t) c.enqueue(chunk(t));
          } else if (ev.type === "delta") {
            const t = text(o.push(ev.deltas));
            if (t) c.enqueue(chunk(t));
          } else if (ev.type === "error") {
            c.enqueue(
              encodeSseJson({
                error: { message: ev.message, type: "server_error", code: ev.code },
              }),
            );
            break;
          } else if (ev.type === "done") {
            if (ev.finishReason === "cancelled") break;
            const t = text(o.finish());
            c.enqueue(chunk(t, ev.finishReason === "length" ? "length" : "stop", ev.stop ?? null));
            if (r.stream_options?.include_usage) {
              const u = ev.usage;
              c.enqueue(encodeSseJson({
                ...meta,
                choices: [],
                usage: {
                  prompt_tokens: u.promptTokens,
                  completion_tokens: u.completionTokens,
                  total_tokens: u.promptTokens + u.completionTokens,
                },
              }));
            }
          }
        }
        c.enqueue(encodeSseDone());
        c.close();
      } catch {
        // client gone; cancel() stopped generation
      }
    },
    cancel() {
      run.cancel();
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}
