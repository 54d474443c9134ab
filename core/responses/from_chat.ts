/**
 * OpenAI chat completion (the neuron's answer) → Responses API `Response` object, and the
 * pieces the streaming translation shares with it: ids, the echoed request fields, status,
 * usage.
 *
 * Output items follow the order the model produced them: reasoning → one `reasoning` item
 * (its text as a single `summary_text` part), text → one assistant `message` item with an
 * `output_text` part (and a `refusal` part if the upstream sent one), each tool call → a
 * `function_call` item. A `length` finish makes the response `incomplete`
 * (`max_output_tokens`), and the item that was cut off `incomplete` too.
 */
import { HttpError } from "../errors.ts";
import type { ChatCompletion, FinishReason } from "../openai/chat.ts";
import type { Usage } from "../openai/common.ts";
import { isFunctionTool, type ResponsesRequest } from "./request.ts";
import type {
  DroppedTool,
  EchoedFunctionTool,
  OutputContent,
  OutputItem,
  ResponseObject,
  ResponseUsage,
} from "./response.ts";

/** The kinds of ids cortex mints: responses, message / reasoning / call items, call ids. */
export type IdPrefix = "resp" | "msg" | "rs" | "fc" | "call";
export type IdSource = (prefix: IdPrefix) => string;

/** A random id in OpenAI's style: `prefix_` + 32 hex digits. */
export function randomId(prefix: IdPrefix): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return `${prefix}_${hex}`;
}

/** What a translation needs besides the upstream answer. */
export interface ResponseContext {
  /** The validated request, whose settings the Response echoes. */
  request: ResponsesRequest;
  /** Tools left out of the prompt (from `responsesToChat`); reported as `cortex_dropped_tools`. */
  droppedTools?: readonly DroppedTool[];
  /** The model name to report; defaults to the one the client asked for. */
  model?: string;
  /** The response id; defaults to a fresh `resp_…`. */
  id?: string;
  /** Milliseconds since the epoch; injectable for tests. Defaults to `Date.now`. */
  now?: () => number;
  /** Mints item ids; injectable for tests. Defaults to `randomId`. */
  newId?: IdSource;
}

/**
 * The Response as it stands before any output: `in_progress`, no output, no usage, and the
 * request's settings echoed (defaults filled in as the API reports them).
 */
export function inProgressResponse(
  ctx: ResponseContext & { id: string; createdAt: number },
): ResponseObject {
  const req = ctx.request;
  const response: ResponseObject = {
    id: ctx.id,
    object: "response",
    created_at: ctx.createdAt,
    status: "in_progress",
    background: false,
    completed_at: null,
    error: null,
    incomplete_details: null,
    instructions: req.instructions ?? null,
    max_output_tokens: req.max_output_tokens ?? null,
    model: ctx.model ?? req.model,
    output: [],
    parallel_tool_calls: req.parallel_tool_calls ?? true,
    previous_response_id: req.previous_response_id ?? null,
    reasoning: { effort: req.reasoning?.effort ?? null, summary: req.reasoning?.summary ?? null },
    // The API's default is to store; whether cortex does is the caller's decision.
    store: req.store ?? true,
    temperature: req.temperature ?? null,
    text: { ...req.text, format: req.text?.format ?? { type: "text" } },
    tool_choice: req.tool_choice ?? "auto",
    tools: echoedTools(req),
    top_p: req.top_p ?? null,
    truncation: req.truncation ?? "disabled",
    usage: null,
    metadata: req.metadata ?? {},
  };
  if (req.user != null) response.user = req.user;
  if (ctx.droppedTools?.length) response.cortex_dropped_tools = [...ctx.droppedTools];
  return response;
}

function echoedTools(req: ResponsesRequest): EchoedFunctionTool[] {
  return (req.tools ?? []).filter(isFunctionTool).map((t) => ({
    type: "function",
    name: t.name,
    description: t.description ?? null,
    parameters: t.parameters ?? null,
    strict: t.strict ?? null,
  }));
}

/** How a finished generation ends the response. */
export interface Outcome {
  status: "completed" | "incomplete";
  incomplete_details: ResponseObject["incomplete_details"];
}

export function outcomeOf(finish: FinishReason | null | undefined): Outcome {
  switch (finish) {
    case "length":
      return { status: "incomplete", incomplete_details: { reason: "max_output_tokens" } };
    case "content_filter":
      return { status: "incomplete", incomplete_details: { reason: "content_filter" } };
    default:
      return { status: "completed", incomplete_details: null };
  }
}

/** OpenAI chat usage → Responses usage (`input_tokens` includes the cached ones, as OpenAI's). */
export function responsesUsage(usage: Usage): ResponseUsage {
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: {
      cached_tokens: Math.min(usage.prompt_tokens_details?.cached_tokens ?? 0, usage.prompt_tokens),
    },
    output_tokens: usage.completion_tokens,
    output_tokens_details: {
      reasoning_tokens: usage.completion_tokens_details?.reasoning_tokens ?? 0,
    },
    total_tokens: usage.total_tokens,
  };
}

/** A call id from the upstream tool call id; minted when the upstream sent none. */
export function callIdFrom(upstreamId: string | null | undefined, newId: IdSource): string {
  return upstreamId ? upstreamId : newId("call");
}

/** Ends `base` with its output and outcome: the terminal Response of a completed generation. */
export function finishedResponse(
  base: ResponseObject,
  output: OutputItem[],
  outcome: Outcome,
  usage: Usage | null | undefined,
  nowMs: number,
): ResponseObject {
  return {
    ...base,
    status: outcome.status,
    completed_at: outcome.status === "completed" ? Math.floor(nowMs / 1000) : null,
    incomplete_details: outcome.incomplete_details,
    output,
    usage: usage ? responsesUsage(usage) : null,
  };
}

/** A non-streaming chat completion as a Response object. */
export function chatToResponse(completion: ChatCompletion, ctx: ResponseContext): ResponseObject {
  const choice = completion.choices.find((c) => c.index === 0) ?? completion.choices[0];
  if (!choice) throw new HttpError(502, "upstream returned a completion without choices");
  const now = ctx.now ?? Date.now;
  const newId = ctx.newId ?? randomId;
  const base = inProgressResponse({
    ...ctx,
    id: ctx.id ?? newId("resp"),
    createdAt: Math.floor(now() / 1000),
  });

  const { message } = choice;
  const output: OutputItem[] = [];
  if (message.reasoning_content) {
    output.push({
      type: "reasoning",
      id: newId("rs"),
      summary: [{ type: "summary_text", text: message.reasoning_content }],
      status: "completed",
    });
  }
  const content: OutputContent[] = [];
  if (message.content) {
    content.push({ type: "output_text", text: message.content, annotations: [] });
  }
  if (message.refusal) content.push({ type: "refusal", refusal: message.refusal });
  if (content.length) {
    output.push({
      type: "message",
      id: newId("msg"),
      status: "completed",
      role: "assistant",
      content,
    });
  }
  for (const call of message.tool_calls ?? []) {
    output.push({
      type: "function_call",
      id: newId("fc"),
      call_id: callIdFrom(call.id, newId),
      name: call.function.name,
      arguments: call.function.arguments,
      status: "completed",
    });
  }
  const outcome = outcomeOf(choice.finish_reason);
  // The generation stopped inside the last item it produced.
  const last = output.at(-1);
  if (outcome.status === "incomplete" && last) last.status = "incomplete";
  return finishedResponse(base, output, outcome, completion.usage, now());
}
