/**
 * `POST /v1/chat/completions`: render the model's chat template, generate,
 * and answer as one JSON object or an SSE stream of chunks.
 */

import { HttpError } from "../../core/errors.ts";
import {
  type ChatCompletionRequest,
  ChatCompletionRequestSchema,
  type ChatMessage,
  contentText,
  findImagePart,
  parseOpenAIBody,
  refuseUnhonoured,
  requestedMaxTokens,
  type ToolCall,
} from "../../core/openai/mod.ts";
import { encodeSseComment, encodeSseDone, encodeSseJson } from "../../core/sse.ts";
import type { TemplateMessage } from "../chat/template.ts";
import { TemplateError } from "../chat/template.ts";
import type { ModelRecord, Neuron } from "../node.ts";
import { isTruthyHeader, json } from "../server/http.ts";
import { ChatOutput, type Piece } from "./chat_output.ts";
import {
  type DoneEvent,
  type Run,
  samplingFrom,
  speculativeFrom,
  startRun,
  stopList,
} from "./generation.ts";
import { grammarFor } from "./grammar.ts";

/** SSE comment frames while nothing else is sent (prefill, queueing). */
export const KEEPALIVE_MS = 2000;

/**
 * Sent by the gateway: a stream whose client did not ask for usage still
 * reports it, as an SSE comment (`: usage {...}`) every client ignores, so
 * the gateway can count tokens without rewriting the request or the stream.
 */
export const USAGE_COMMENT_HEADER = "x-cortex-usage";

export async function chatCompletions(neuron: Neuron, req: Request, body: unknown) {
  const r = parseOpenAIBody(ChatCompletionRequestSchema, body);
  const rec = neuron.loaded(r.model);
  refuseUnhonoured(r);
  const image = findImagePart(r);
  if (image) {
    throw new HttpError(400, "this model takes text only; image content is not supported", {
      param: image,
      code: "unsupported_content",
    });
  }
  const includeThinking = isTruthyHeader(req.headers.get("x-include-thinking"));
  const info = rec.info!;
  const tools = r.tool_choice === "none" ? [] : (r.tools ?? []);
  const kwargs: Record<string, unknown> = { ...r.chat_template_kwargs };
  // Thinking costs time: off unless the caller asked for it in one of the ways it can.
  kwargs.enable_thinking ??= includeThinking ||
    (r.reasoning_effort != null && r.reasoning_effort !== "none");

  let prompt: string;
  try {
    prompt = rec.template!.render({
      messages: r.messages.map(toTemplateMessage),
      tools: tools.length ? tools : undefined,
      addGenerationPrompt: true,
      kwargs,
    });
  } catch (e) {
    if (e instanceof TemplateError) {
      throw new HttpError(400, e.message, { param: "messages", code: "template_error" });
    }
    throw e;
  }

  const grammar = grammarFor(r, rec);
  // A budget no smaller than the output's own limit can never bind: nothing to enforce.
  const maxTokens = requestedMaxTokens(r) ?? Number.MAX_SAFE_INTEGER;
  const budget = r.reasoning_budget_tokens != null && r.reasoning_budget_tokens < maxTokens
    ? r.reasoning_budget_tokens
    : undefined;
  if (budget !== undefined && grammar && !grammar.answerOnly && !grammar.trigger) {
    // A caller's GBNF covers the reasoning too: a close marker put in place of a sample would
    // leave its path. (Answer grammars start after the close; a tool-call grammar waits for
    // its trigger.)
    throw new HttpError(400, "reasoning_budget_tokens cannot be combined with a grammar", {
      param: "reasoning_budget_tokens",
      code: "unsupported_parameter",
    });
  }
  const run = await startRun(neuron, rec, {
    prompt,
    addSpecial: info.addBos && !(info.bosText && prompt.startsWith(info.bosText)),
    maxTokens,
    sampling: { ...samplingFrom(r, info.nVocab), grammar: grammar?.gbnf },
    stop: stopList(r.stop),
    answerGrammar: grammar?.answerOnly,
    grammarTrigger: grammar?.trigger,
    speculative: speculativeFrom(r, rec),
    reasoningBudget: budget,
  }, "chat");
  const output = new ChatOutput({
    includeThinking,
    markers: info.markers,
    tools: tools.length && rec.toolFormat !== "none" ? { format: rec.toolFormat, tools } : null,
  });
  const meta = {
    id: `chatcmpl-${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`,
    created: Math.floor(Date.now() / 1000),
    model: r.model,
  };
  return r.stream
    ? streamResponse(run, output, meta, {
      includeUsage: r.stream_options?.include_usage ?? false,
      usageComment: req.headers.has(USAGE_COMMENT_HEADER),
    })
    : await wholeResponse(run, output, meta, req.signal);
}

/** OpenAI messages → what chat templates expect (HF conventions). */
export function toTemplateMessage(m: ChatMessage): TemplateMessage {
  switch (m.role) {
    case "system":
    case "developer":
      // Templates know "system"; OpenAI's "developer" is the same instruction channel.
      return { role: "system", content: contentText(m.content) };
    case "user":
      return { role: "user", content: contentText(m.content) };
    case "tool":
      return { role: "tool", content: contentText(m.content), tool_call_id: m.tool_call_id };
    case "assistant": {
      const out: TemplateMessage = { role: "assistant", content: contentText(m.content ?? null) };
      if (m.reasoning_content) out.reasoning_content = m.reasoning_content;
      if (m.tool_calls?.length) out.tool_calls = m.tool_calls.map(templateToolCall);
      return out;
    }
  }
}

/** Templates render `arguments | tojson`: hand them an object when the JSON parses. */
function templateToolCall(c: ToolCall) {
  let args: unknown = c.function.arguments;
  try {
    args = JSON.parse(c.function.arguments);
  } catch {
    // not JSON: the template gets the raw string
  }
  return {
    id: c.id,
    type: "function" as const,
    function: { name: c.function.name, arguments: args },
  };
}

interface Meta {
  id: string;
  created: number;
  model: string;
}

/** `prompt=12;completion=5;ttft_ms=3.1`: lets the gateway count a whole answer without parsing it. */
export function usageHeaderValue(done: DoneEvent): string {
  const u = done.usage;
  return `prompt=${u.promptTokens};completion=${u.completionTokens};ttft_ms=${
    done.timings.ttftMs.toFixed(1)
  }`;
}

function usageOf(done: DoneEvent) {
  const u = done.usage;
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens },
  };
}

/** A cut-off answer says so even after complete calls: the last one may be cut short. */
function finishReason(done: DoneEvent, output: ChatOutput): string {
  if (done.finishReason === "length") return "length";
  return output.calledTools ? "tool_calls" : "stop";
}

async function wholeResponse(
  run: Run,
  output: ChatOutput,
  meta: Meta,
  signal: AbortSignal,
): Promise<Response> {
  // A client that hangs up before the answer stops the generation too.
  signal.addEventListener("abort", () => run.cancel(), { once: true });
  let content = "";
  let reasoning = "";
  const calls: ToolCall[] = [];
  const add = (pieces: Piece[]) => {
    for (const p of pieces) {
      if (p.content) content += p.content;
      if (p.reasoning) reasoning += p.reasoning;
      for (const d of p.toolCalls ?? []) {
        if (d.id) {
          calls[d.index] = {
            id: d.id,
            type: "function",
            function: { name: d.function?.name ?? "", arguments: "" },
          };
        }
        if (d.function?.arguments) calls[d.index].function.arguments += d.function.arguments;
      }
    }
  };
  let done: DoneEvent | undefined;
  while (true) {
    const ev = await run.next();
    if (ev === null || ev === "idle") break;
    if (ev.type === "start" && ev.reasoning) add(output.startInReasoning());
    else if (ev.type === "delta") add(output.push(ev.deltas));
    else if (ev.type === "error") throw new HttpError(500, ev.message, { code: ev.code });
    else if (ev.type === "done") done = ev;
  }
  if (!done) throw new HttpError(500, "generation ended without a result");
  add(output.finish());
  return json(
    {
      id: meta.id,
      object: "chat.completion",
      created: meta.created,
      model: meta.model,
      choices: [{
        index: 0,
        message: {
          role: "assistant",
          content,
          ...(reasoning ? { reasoning_content: reasoning } : {}),
          ...(calls.length ? { tool_calls: calls } : {}),
        },
        finish_reason: finishReason(done, output),
        stop_reason: done.stop ?? null,
        logprobs: null,
      }],
      usage: usageOf(done),
    },
    200,
    { "x-cortex-usage": usageHeaderValue(done) },
  );
}

function streamResponse(
  run: Run,
  output: ChatOutput,
  meta: Meta,
  opts: { includeUsage: boolean; usageComment: boolean },
) {
  const head =
    `{"id":"${meta.id}","object":"chat.completion.chunk","created":${meta.created},"model":${
      JSON.stringify(meta.model)
    },"choices":[`;
  const enc = new TextEncoder();
  const chunk = (delta: unknown, finish: string | null = null, stop: string | null = null) =>
    enc.encode(
      `data: ${head}{"index":0,"delta":${JSON.stringify(delta)},"finish_reason":${
        finish === null ? "null" : `"${finish}"`
      }${finish === null ? "" : `,"stop_reason":${JSON.stringify(stop)}`}}]}\n\n`,
    );
  const body = new ReadableStream<Uint8Array>({
    async start(c) {
      c.enqueue(chunk({ role: "assistant", content: "" }));
      const send = (pieces: Piece[]) => {
        for (const p of pieces) {
          if (p.content !== undefined) c.enqueue(chunk({ content: p.content }));
          else if (p.reasoning !== undefined) c.enqueue(chunk({ reasoning_content: p.reasoning }));
          else if (p.toolCalls) c.enqueue(chunk({ tool_calls: p.toolCalls }));
        }
      };
      try {
        while (true) {
          const ev = await run.next(KEEPALIVE_MS);
          if (ev === null) break;
          if (ev === "idle") {
            c.enqueue(encodeSseComment());
            continue;
          }
          if (ev.type === "start" && ev.reasoning) send(output.startInReasoning());
          else if (ev.type === "delta") send(output.push(ev.deltas));
          else if (ev.type === "error") {
            c.enqueue(encodeSseJson({
              error: { message: ev.message, type: "server_error", param: null, code: ev.code },
            }));
            break;
          } else if (ev.type === "done") {
            if (ev.finishReason === "cancelled") break;
            send(output.finish());
            c.enqueue(chunk({}, finishReason(ev, output), ev.stop ?? null));
            if (opts.includeUsage) {
              c.enqueue(encodeSseJson({
                id: meta.id,
                object: "chat.completion.chunk",
                created: meta.created,
                model: meta.model,
                choices: [],
                usage: usageOf(ev),
              }));
            } else if (opts.usageComment) {
              c.enqueue(encodeSseComment(`usage ${JSON.stringify(usageOf(ev))}`));
            }
          }
        }
        c.enqueue(encodeSseDone());
        c.close();
      } catch {
        // The client went away mid-write: the cancel below has already stopped generation.
      }
    },
    cancel() {
      run.cancel();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    },
  });
}

export type { ChatCompletionRequest, ModelRecord };
