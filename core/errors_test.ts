import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { z } from "zod";
import {
  anthropicErrorMessage,
  anthropicErrorType,
  contextLengthMessage,
  describeZodError,
  errorResponse,
  formatPath,
  HttpError,
  httpErrorFromZod,
  openAIErrorType,
  statusForAnthropicErrorType,
  toAnthropicErrorBody,
  toHttpError,
  toOpenAIErrorBody,
} from "./errors.ts";

Deno.test("status → Anthropic error type follows the public API's table", () => {
  const table: [number, string][] = [
    [400, "invalid_request_error"],
    [401, "authentication_error"],
    [403, "permission_error"],
    [404, "not_found_error"],
    [413, "request_too_large"],
    [429, "rate_limit_error"],
    [500, "api_error"],
    [503, "overloaded_error"],
    [529, "overloaded_error"],
    [422, "invalid_request_error"], // unknown 4xx
    [502, "api_error"], // unknown 5xx
  ];
  for (const [status, type] of table) assert.equal(anthropicErrorType(status), type, `${status}`);
});

Deno.test("Anthropic error type → status inverts the table", () => {
  for (const status of [400, 401, 403, 404, 413, 429, 500, 529]) {
    assert.equal(statusForAnthropicErrorType(anthropicErrorType(status)), status);
  }
  assert.equal(statusForAnthropicErrorType("no_such_type"), 500);
});

Deno.test("OpenAI error types are OpenAI's own, not Anthropic's", () => {
  const table: [number, string][] = [
    [400, "invalid_request_error"],
    [401, "invalid_request_error"], // OpenAI: bad key → invalid_request_error + invalid_api_key
    [403, "invalid_request_error"],
    [404, "invalid_request_error"], // OpenAI: unknown model → invalid_request_error + model_not_found
    [405, "invalid_request_error"],
    [413, "invalid_request_error"],
    [422, "invalid_request_error"],
    [429, "requests"],
    [500, "server_error"],
    [502, "server_error"],
    [503, "server_error"],
    [504, "server_error"],
    [507, "server_error"],
  ];
  for (const [status, type] of table) assert.equal(openAIErrorType(status), type, `${status}`);
});

Deno.test("OpenAI envelopes for an unknown model, a bad key and a rate limit read as OpenAI's", () => {
  const notFound = toOpenAIErrorBody(
    new HttpError(404, "The model `x` does not exist", { code: "model_not_found", param: "model" }),
  );
  assert.deepEqual(notFound.error, {
    message: "The model `x` does not exist",
    type: "invalid_request_error",
    param: "model",
    code: "model_not_found",
  });
  const badKey = toOpenAIErrorBody(new HttpError(401, "bad key", { code: "invalid_api_key" }));
  assert.equal(badKey.error.type, "invalid_request_error");
  assert.equal(badKey.error.code, "invalid_api_key");
  const limited = toOpenAIErrorBody(new HttpError(429, "slow down"));
  assert.equal(limited.error.type, "requests");
  assert.equal(limited.error.code, "rate_limit_exceeded");
  // The Anthropic dialect keeps its own words for the same errors.
  assert.equal(toAnthropicErrorBody(new HttpError(404, "x")).error.type, "not_found_error");
  assert.equal(toAnthropicErrorBody(new HttpError(401, "x")).error.type, "authentication_error");
});

Deno.test("context length: OpenAI's wording, and Anthropic's in the Anthropic dialect", () => {
  const message = contextLengthMessage(256, 400, "messages");
  assert.equal(
    message,
    "This model's maximum context length is 256 tokens. However, your messages resulted in " +
      "400 tokens. Please reduce the length of the messages.",
  );
  assert.match(contextLengthMessage(256, 256, "messages"), /256 tokens, which leaves no room/);
  assert.match(contextLengthMessage(4096, 5000, "prompt"), /maximum context length is 4096 tokens/);
  const err = new HttpError(400, message, { code: "context_length_exceeded", param: "messages" });
  assert.deepEqual(toOpenAIErrorBody(err).error, {
    message,
    type: "invalid_request_error",
    param: "messages",
    code: "context_length_exceeded",
  });
  assert.deepEqual(toAnthropicErrorBody(err), {
    type: "error",
    error: {
      type: "invalid_request_error",
      message: "prompt is too long: 400 tokens > 256 maximum",
    },
  });
  // The gateway passes a neuron's message on without its code: the text alone is enough.
  assert.equal(
    toAnthropicErrorBody(new HttpError(400, message)).error.message,
    "prompt is too long: 400 tokens > 256 maximum",
  );
  assert.equal(anthropicErrorMessage({ message: "other", code: null }), "other");
  // What a neuron adds after OpenAI's words (trained length, how to raise it) stays.
  assert.equal(
    anthropicErrorMessage({ message: `${message} The model was trained for 8192 tokens.` }),
    "prompt is too long: 400 tokens > 256 maximum. The model was trained for 8192 tokens.",
  );
});

Deno.test("envelopes carry message, type, param and code", () => {
  const err = new HttpError(404, "model 'x' is not known", {
    code: "model_not_found",
    param: "model",
  });
  assert.deepEqual(toOpenAIErrorBody(err), {
    error: {
      message: "model 'x' is not known",
      type: "invalid_request_error",
      param: "model",
      code: "model_not_found",
    },
  });
  assert.deepEqual(toAnthropicErrorBody(err), {
    type: "error",
    error: { type: "not_found_error", message: "model 'x' is not known" },
  });
  const bare = new HttpError(500, "boom");
  assert.equal(toOpenAIErrorBody(bare).error.param, null);
  assert.equal(toOpenAIErrorBody(bare).error.code, null);
});

Deno.test("errorResponse sets status, content type and the dialect's body", async () => {
  const res = errorResponse(new HttpError(429, "slow down"), "anthropic", { "retry-after": "2" });
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(res.headers.get("retry-after"), "2");
  assert.deepEqual(await res.json(), {
    type: "error",
    error: { type: "rate_limit_error", message: "slow down" },
  });
});

Deno.test("toHttpError keeps HttpErrors and turns anything else into a 500", () => {
  const e = new HttpError(400, "bad");
  assert.equal(toHttpError(e), e);
  const wrapped = toHttpError(new TypeError("x is undefined"));
  assert.equal(wrapped.status, 500);
  assert.match(wrapped.message, /x is undefined/);
  assert.equal(toHttpError("weird").status, 500);
});

Deno.test("the official SDKs read our envelopes", async () => {
  const err = new HttpError(400, "messages[0].role: bad", {
    code: "invalid_value",
    param: "messages[0].role",
  });
  const openai = new OpenAI({
    apiKey: "k",
    baseURL: "http://cortex.invalid/v1",
    maxRetries: 0,
    fetch: () => Promise.resolve(errorResponse(err, "openai")),
  });
  const oe = await openai.chat.completions
    .create({ model: "m", messages: [{ role: "user", content: "x" }] })
    .catch((e) => e);
  assert.ok(oe instanceof OpenAI.BadRequestError);
  assert.equal(oe.param, "messages[0].role");
  assert.equal(oe.code, "invalid_value");
  assert.equal(oe.type, "invalid_request_error");

  const anthropic = new Anthropic({
    apiKey: "k",
    baseURL: "http://cortex.invalid",
    maxRetries: 0,
    fetch: () => Promise.resolve(errorResponse(new HttpError(529, "busy"), "anthropic")),
  });
  const ae = await anthropic.messages
    .create({ model: "m", max_tokens: 5, messages: [{ role: "user", content: "x" }] })
    .catch((e) => e);
  assert.ok(ae instanceof Anthropic.APIError);
  assert.equal(ae.status, 529);
  assert.equal(ae.type, "overloaded_error");
  assert.equal(ae.apiMessage, "busy");
});

Deno.test("formatPath writes OpenAI brackets or Anthropic dots", () => {
  assert.equal(
    formatPath(["messages", 0, "content", 2, "text"], "bracket"),
    "messages[0].content[2].text",
  );
  assert.equal(
    formatPath(["messages", 0, "content", 2, "text"], "dotted"),
    "messages.0.content.2.text",
  );
  assert.equal(formatPath([], "dotted"), "");
});

const Schema = z.object({
  model: z.string(),
  content: z.union([z.string(), z.array(z.object({ type: z.literal("text"), text: z.string() }))]),
  n: z.number().max(2).optional(),
  kind: z.enum(["a", "b"]).optional(),
});

function problem(input: unknown) {
  const r = Schema.safeParse(input);
  assert.ok(!r.success);
  return describeZodError(r.error, input);
}

Deno.test("describeZodError names missing fields as required", () => {
  const p = problem({ content: "x" });
  assert.deepEqual(p.path, ["model"]);
  assert.equal(p.message, "is required");
  assert.equal(p.code, "missing_required_parameter");
});

Deno.test("describeZodError follows the union branch that matched the value's type", () => {
  const p = problem({ model: "m", content: [{ type: "text" }] });
  assert.deepEqual(p.path, ["content", 0, "text"]);
  assert.equal(p.message, "is required");
  const wrongType = problem({ model: "m", content: 5 });
  assert.deepEqual(wrongType.path, ["content"]);
  assert.equal(wrongType.message, "expected string or array, got number");
});

Deno.test("describeZodError rewrites bounds and enum messages with the offending value", () => {
  assert.equal(problem({ model: "m", content: "", n: 3 }).message, "must be <= 2");
  assert.equal(
    problem({ model: "m", content: "", kind: "c" }).message,
    'unsupported value "c" (expected one of: "a", "b")',
  );
});

Deno.test("httpErrorFromZod builds a 400 naming the field in the requested style", () => {
  const input = { model: "m", content: [{ type: "text" }] };
  const r = Schema.safeParse(input);
  assert.ok(!r.success);
  const dotted = httpErrorFromZod(r.error, input, "dotted");
  assert.equal(dotted.status, 400);
  assert.equal(dotted.param, "content.0.text");
  assert.equal(dotted.message, "content.0.text: is required");
  assert.equal(httpErrorFromZod(r.error, input, "bracket").param, "content[0].text");
});
