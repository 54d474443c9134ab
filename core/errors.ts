/**
 * HTTP errors shared by the gateway and the neuron, and their rendering in the
 * two wire dialects cortex speaks.
 *
 * Code throws one `HttpError` (status, a dialect-neutral machine code, a message,
 * the offending field); the HTTP layer renders it as the OpenAI envelope
 * `{"error":{"message","type","param","code"}}` or the Anthropic envelope
 * `{"type":"error","error":{"type","message"}}`, or Ollama's `{"error"}` depending on the route.
 */
import type { z } from "zod";

export type ErrorDialect = "openai" | "anthropic" | "ollama";

/** Error `type` values of the Anthropic API (`error.type`). */
export type AnthropicErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "billing_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "timeout_error"
  | "api_error"
  | "overloaded_error";

/** An error that maps to an HTTP status and renders in either dialect. */
export class HttpError extends Error {
  override name = "HttpError";
  readonly status: number;
  /** Machine-readable, dialect-neutral code, e.g. `model_not_found`; null when none applies. */
  readonly code: string | null;
  /** The request field at fault, e.g. `messages[0].role`; null when none applies. */
  readonly param: string | null;

  constructor(
    status: number,
    message: string,
    options: { code?: string | null; param?: string | null; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.code = options.code ?? null;
    this.param = options.param ?? null;
  }
}

const ANTHROPIC_TYPE_BY_STATUS: Readonly<Record<number, AnthropicErrorType>> = {
  400: "invalid_request_error",
  401: "authentication_error",
  402: "billing_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  503: "overloaded_error",
  504: "timeout_error",
  529: "overloaded_error",
};

const STATUS_BY_ANTHROPIC_TYPE: Readonly<Record<AnthropicErrorType, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  // Anthropic's own status for this type; cortex itself answers 503 when it has no capacity.
  overloaded_error: 529,
};

/** The Anthropic `error.type` for an HTTP status (unknown 4xx → invalid_request_error, 5xx → api_error). */
export function anthropicErrorType(status: number): AnthropicErrorType {
  return ANTHROPIC_TYPE_BY_STATUS[status] ?? (status < 500 ? "invalid_request_error" : "api_error");
}

/** The HTTP status for an Anthropic `error.type` (unknown types → 500). */
export function statusForAnthropicErrorType(type: string): number {
  return STATUS_BY_ANTHROPIC_TYPE[type as AnthropicErrorType] ?? 500;
}

/**
 * The OpenAI `error.type` for an HTTP status, as OpenAI's own API sets it (clients key on
 * it together with `code`): every refusal of the request, an unknown model (404, code
 * `model_not_found`) and a bad or missing key (401, code `invalid_api_key`) included, is
 * `invalid_request_error`; a rate limit is `requests` (code `rate_limit_exceeded`); every
 * 5xx (failures, 503 "overloaded or not ready") is `server_error`. The Anthropic words
 * (`not_found_error`, `authentication_error`, `overloaded_error`) are that dialect's only.
 */
export function openAIErrorType(status: number): string {
  if (status === 429) return "requests";
  return status >= 500 ? "server_error" : "invalid_request_error";
}

/** The OpenAI `error.code` when the error names none: 429s carry `rate_limit_exceeded`. */
function openAIErrorCode(err: HttpError): string | null {
  return err.code ?? (err.status === 429 ? "rate_limit_exceeded" : null);
}

/** What a too-long request blames: a chat's `messages`, a completion's `prompt`, an embedding's `input`. */
export type ContextField = "messages" | "prompt" | "input";

/**
 * The refusal of a request longer than the context, in OpenAI's words (agents match "maximum
 * context length is N tokens" to trigger compaction); code `context_length_exceeded`.
 */
export function contextLengthMessage(max: number, tokens: number, field: ContextField): string {
  // A prompt exactly as long as the context is refused too: no token could follow it.
  const room = tokens === max ? ", which leaves no room for the completion" : "";
  return `This model's maximum context length is ${max} tokens. However, your ${field} ` +
    `resulted in ${tokens} tokens${room}. Please reduce the length of the ${field}.`;
}

const CONTEXT_LENGTH =
  /maximum context length is (\d+) tokens\. However, your \w+ resulted in (\d+) tokens[^]*?Please reduce the length of the \w+\.\s*([^]*)$/;

/**
 * The message an error carries in the Anthropic dialect. A context-length refusal (OpenAI's
 * wording, from a neuron) reads as Anthropic's own: "prompt is too long: M tokens > N maximum".
 */
export function anthropicErrorMessage(err: { message: string; code?: string | null }): string {
  const m = CONTEXT_LENGTH.exec(err.message);
  if (m && (err.code == null || err.code === "context_length_exceeded")) {
    // What the neuron adds after OpenAI's words (trained length, how to raise it) stays.
    return `prompt is too long: ${m[2]} tokens > ${m[1]} maximum${m[3] ? `. ${m[3]}` : ""}`;
  }
  return err.message;
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface AnthropicErrorBody {
  type: "error";
  error: { type: AnthropicErrorType; message: string };
}

export function toOpenAIErrorBody(err: HttpError): OpenAIErrorBody {
  return {
    error: {
      message: err.message,
      type: openAIErrorType(err.status),
      param: err.param,
      code: openAIErrorCode(err),
    },
  };
}

export function toAnthropicErrorBody(err: HttpError): AnthropicErrorBody {
  return {
    type: "error",
    error: { type: anthropicErrorType(err.status), message: anthropicErrorMessage(err) },
  };
}

/** Ollama's envelope: `{"error": "..."}`. */
export interface OllamaErrorBody {
  error: string;
}

/** Renders an error in the given dialect. */
export function errorBody(
  err: HttpError,
  dialect: ErrorDialect,
): OpenAIErrorBody | AnthropicErrorBody | OllamaErrorBody {
  if (dialect === "ollama") return { error: err.message };
  return dialect === "openai" ? toOpenAIErrorBody(err) : toAnthropicErrorBody(err);
}

/** A JSON `Response` carrying the error in the given dialect. */
export function errorResponse(
  err: HttpError,
  dialect: ErrorDialect,
  headers: HeadersInit = {},
): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json");
  return new Response(JSON.stringify(errorBody(err, dialect)), { status: err.status, headers: h });
}

/**
 * Any thrown value as an `HttpError`. Anything that is not one already is our bug or a
 * node failure: a 500 whose message is the original one (never the client's fault).
 */
export function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new HttpError(500, `internal error: ${message}`, { code: "internal_error", cause: e });
}

// ---------------------------------------------------------------------------------------
// Zod issues → one message naming the field.

/** `bracket`: `messages[0].role` (OpenAI's `param`); `dotted`: `messages.0.role` (Anthropic's). */
export type PathStyle = "bracket" | "dotted";

export function formatPath(path: readonly PropertyKey[], style: PathStyle): string {
  let out = "";
  for (const key of path) {
    const k = typeof key === "symbol" ? key.description ?? "" : key;
    if (typeof k === "number") out += style === "bracket" ? `[${k}]` : (out ? `.${k}` : `${k}`);
    else out += out ? `.${k}` : k;
  }
  return out;
}

export interface ZodProblem {
  path: PropertyKey[];
  message: string;
  /** `missing_required_parameter`, `invalid_type` or `invalid_value`. */
  code: string;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function shortJson(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/**
 * The single most useful problem in a zod error: for a union, the branch that got furthest
 * into the input (an array branch for an array input, not the string branch), so the
 * message names the deepest field actually at fault.
 */
export function describeZodError(error: z.ZodError, input: unknown): ZodProblem {
  const best = pickIssue(error.issues as readonly Issue[], [], input);
  return best ?? { path: [], message: "invalid request body", code: "invalid_value" };
}

// The subset of zod v4's issue shape this module reads.
interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  expected?: string;
  errors?: Issue[][];
  issues?: Issue[];
  options?: unknown[];
  values?: unknown[];
  discriminator?: string;
  origin?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  inclusive?: boolean;
  /** Custom issues: `params.code` is the error code to report. */
  params?: { code?: unknown };
}

function pickIssue(
  issues: readonly Issue[],
  base: PropertyKey[],
  input: unknown,
): ZodProblem | null {
  let best: ZodProblem | null = null;
  for (const issue of issues) {
    const p = explain(issue, base, input);
    if (!best || rank(p) > rank(best)) best = p;
  }
  return best;
}

function explain(issue: Issue, base: PropertyKey[], input: unknown): ZodProblem {
  const path = [...base, ...issue.path];
  const value = valueAt(input, path);
  switch (issue.code) {
    case "invalid_type":
      if (value === undefined) {
        return { path, message: "is required", code: "missing_required_parameter" };
      }
      return {
        path,
        message: `expected ${issue.expected ?? "another type"}, got ${kindOf(value)}`,
        code: "invalid_type",
      };
    case "invalid_union": {
      if (issue.discriminator !== undefined && issue.options) {
        const tag = valueAt(input, path);
        const allowed = issue.options.map((o) => String(o)).join(", ");
        return tag === undefined
          ? {
            path,
            message: `is required (one of: ${allowed})`,
            code: "missing_required_parameter",
          }
          : {
            path,
            message: `unsupported value ${shortJson(tag)} (expected one of: ${allowed})`,
            code: "invalid_value",
          };
      }
      const branches = (issue.errors ?? []).map((b) => pickIssue(b, path, input)).filter(
        (p): p is ZodProblem => p !== null,
      );
      if (branches.length === 0) return { path, message: issue.message, code: "invalid_value" };
      // Every branch failed on the value itself: it has the wrong type for all of them.
      if (branches.every((b) => b.path.length === path.length && b.code !== "invalid_value")) {
        if (value === undefined) {
          return { path, message: "is required", code: "missing_required_parameter" };
        }
        const expected = [...new Set((issue.errors ?? []).flatMap((b) => b.map((i) => i.expected)))]
          .filter((e): e is string => typeof e === "string");
        return {
          path,
          message: `expected ${expected.join(" or ") || "another type"}, got ${kindOf(value)}`,
          code: "invalid_type",
        };
      }
      // Otherwise the branch that got furthest; on a tie, one whose type matched the value.
      return branches.reduce((a, b) => (rank(b) > rank(a) ? b : a));
    }
    case "invalid_key":
    case "invalid_element": {
      const inner = pickIssue(issue.issues ?? [], [], undefined);
      const what = issue.code === "invalid_key" ? "key" : "value";
      return {
        path,
        message: `invalid ${what}: ${inner?.message ?? issue.message}`,
        code: "invalid_value",
      };
    }
    case "custom":
      if (typeof issue.params?.code === "string") {
        return { path, message: lowerFirst(issue.message), code: issue.params.code };
      }
      break;
    case "unrecognized_keys":
      return { path, message: issue.message, code: "unknown_parameter" };
    case "invalid_value":
      if (issue.values?.length) {
        const allowed = issue.values.map((v) => shortJson(v)).join(", ");
        return {
          path,
          message: value === undefined
            ? `is required (one of: ${allowed})`
            : `unsupported value ${shortJson(value)} (expected ${
              issue.values.length > 1 ? "one of: " : ""
            }${allowed})`,
          code: value === undefined ? "missing_required_parameter" : "invalid_value",
        };
      }
      break;
    case "too_big":
    case "too_small": {
      // Zod's default wording ("Too big: expected number to be <=2") is replaced; a custom
      // message given in the schema is kept.
      if (!/^Too (big|small)/.test(issue.message)) break;
      return { path, message: boundMessage(issue), code: "invalid_value" };
    }
  }
  return { path, message: lowerFirst(issue.message), code: "invalid_value" };
}

function rank(p: ZodProblem): number {
  return p.path.length * 2 + (p.code === "invalid_type" ? 0 : 1);
}

function boundMessage(issue: Issue): string {
  const big = issue.code === "too_big";
  const bound = String(big ? issue.maximum : issue.minimum);
  const inclusive = issue.inclusive !== false;
  switch (issue.origin) {
    case "array":
    case "set":
      return `must have ${big ? "at most" : "at least"} ${bound} item${bound === "1" ? "" : "s"}`;
    case "string":
      return `must be ${big ? "at most" : "at least"} ${bound} character${
        bound === "1" ? "" : "s"
      }`;
    default:
      return `must be ${big ? (inclusive ? "<=" : "<") : (inclusive ? ">=" : ">")} ${bound}`;
  }
}

function lowerFirst(s: string): string {
  return s.length > 1 && /^[A-Z][a-z]/.test(s) ? s[0].toLowerCase() + s.slice(1) : s;
}

/** A 400 `HttpError` for a request body that failed its schema, naming the field at fault. */
export function httpErrorFromZod(error: z.ZodError, input: unknown, style: PathStyle): HttpError {
  const problem = describeZodError(error, input);
  const param = problem.path.length ? formatPath(problem.path, style) : null;
  const message = param ? `${param}: ${problem.message}` : problem.message;
  return new HttpError(400, message, { code: problem.code, param });
}
