// Text completions, embeddings, the model list and the error helpers.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { z } from "zod";
import { HttpError } from "../errors.ts";
import { CompletionRequestSchema, CompletionSchema } from "./completions.ts";
import {
  decodeEmbeddingBase64,
  EmbeddingRequestSchema,
  EmbeddingResponseSchema,
  encodeEmbeddingBase64,
} from "./embeddings.ts";
import { ModelListSchema } from "./models.ts";
import {
  openaiError,
  OpenAIErrorEnvelopeSchema,
  parseOpenAIBody,
  zodToOpenAIError,
} from "./errors.ts";

/** A client whose requests land in `sent` and are answered with `reply`. */
function fakeClient(reply: unknown, sent: unknown[]): OpenAI {
  return new OpenAI({
    apiKey: "k",
    baseURL: "http://cortex.invalid/v1",
    maxRetries: 0,
    fetch: (_url, init) => {
      sent.push(JSON.parse(String(init?.body)));
      return Promise.resolve(Response.json(reply));
    },
  });
}

Deno.test("text completion request: prompt forms, ranges, extensions", () => {
  for (const prompt of ["hi", ["a", "b"], [1, 2, 3], [[1, 2], [3]]]) {
    assert.ok(
      CompletionRequestSchema.safeParse({ model: "m", prompt }).success,
      JSON.stringify(prompt),
    );
  }
  assert.ok(!CompletionRequestSchema.safeParse({ model: "m", prompt: [] }).success);
  const bad = { model: "m", prompt: "x", best_of: 3 };
  const r = CompletionRequestSchema.safeParse(bad);
  assert.ok(!r.success);
  assert.equal(zodToOpenAIError(r.error, bad).error.param, "best_of");
  const ok = CompletionRequestSchema.parse({
    model: "m",
    prompt: "x",
    top_k: 5,
    min_p: 0.1,
    mirostat: 2,
  });
  assert.equal(ok.top_k, 5);
  assert.equal(ok.mirostat, 2);
});

Deno.test("text completion response and streamed chunk validate", () => {
  const base = { id: "cmpl-1", object: "text_completion", created: 1, model: "m" };
  assert.ok(
    CompletionSchema.safeParse({
      ...base,
      choices: [{ index: 0, text: "hello", logprobs: null, finish_reason: "length" }],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    }).success,
  );
  assert.ok(
    CompletionSchema.safeParse({
      ...base,
      choices: [{ index: 0, text: "he", logprobs: null, finish_reason: null }],
    }).success,
  );
});

Deno.test("embeddings: the SDK's default request validates and its base64 decoding matches ours", async () => {
  const vector = [0.25, -1.5, 3.0e-8, 1234.5];
  const reply = {
    object: "list",
    data: [{ object: "embedding", index: 0, embedding: encodeEmbeddingBase64(vector) }],
    model: "e5",
    usage: { prompt_tokens: 2, total_tokens: 2 },
  };
  assert.ok(EmbeddingResponseSchema.safeParse(reply).success);
  const sent: unknown[] = [];
  const res = await fakeClient(reply, sent).embeddings.create({ model: "e5", input: "hello" });
  const req = EmbeddingRequestSchema.parse(sent[0]);
  assert.equal(req.encoding_format, "base64"); // the SDK's default
  const expected = Array.from(Float32Array.from(vector));
  assert.deepEqual(res.data[0].embedding, expected);
  assert.deepEqual(decodeEmbeddingBase64(reply.data[0].embedding), expected);
});

Deno.test("embeddings request rejects empty input lists", () => {
  const body = { model: "e", input: [] };
  const r = EmbeddingRequestSchema.safeParse(body);
  assert.ok(!r.success);
  assert.equal(zodToOpenAIError(r.error, body).error.param, "input");
});

Deno.test("token ids beyond int32 are refused by name (they would wrap to other tokens)", () => {
  const cases: [z.ZodType, unknown, string][] = [
    [CompletionRequestSchema, { model: "m", prompt: [4294967297] }, "prompt[0]"],
    [CompletionRequestSchema, { model: "m", prompt: [[1], [2, 2 ** 31]] }, "prompt[1][1]"],
    [EmbeddingRequestSchema, { model: "e", input: [4294967297] }, "input[0]"],
    [EmbeddingRequestSchema, { model: "e", input: [[1, 2], [2 ** 31]] }, "input[1][0]"],
  ];
  for (const [schema, body, param] of cases) {
    const r = schema.safeParse(body);
    assert.ok(!r.success, JSON.stringify(body));
    const { error } = zodToOpenAIError(r.error, body);
    assert.equal(error.param, param);
    assert.match(error.message, /token ids are at most 2147483647/);
  }
  assert.ok(CompletionRequestSchema.safeParse({ model: "m", prompt: [2 ** 31 - 1] }).success);
});

Deno.test("model list keeps cortex's extra fields", () => {
  const list = ModelListSchema.parse({
    object: "list",
    data: [{ id: "qwen3", object: "model", created: 0, owned_by: "cortex", loaded_on: ["n1"] }],
  });
  assert.deepEqual(list.data[0].loaded_on, ["n1"]);
});

Deno.test("openaiError fills every field", () => {
  assert.deepEqual(openaiError("nope"), {
    error: { message: "nope", type: "invalid_request_error", param: null, code: null },
  });
  assert.deepEqual(
    openaiError("gone", { type: "not_found_error", code: "model_not_found", param: "model" }),
    {
      error: { message: "gone", type: "not_found_error", param: "model", code: "model_not_found" },
    },
  );
});

Deno.test("the envelope schema reads llama.cpp's numeric code", () => {
  const r = OpenAIErrorEnvelopeSchema.parse({
    error: { code: 400, message: "bad", type: "invalid_request_error" },
  });
  assert.equal(r.error.code, 400);
});

Deno.test("parseOpenAIBody returns data or throws a 400 HttpError with the param", () => {
  const schema = z.object({ messages: z.array(z.object({ role: z.enum(["user"]) })) });
  assert.deepEqual(parseOpenAIBody(schema, { messages: [{ role: "user" }] }), {
    messages: [{ role: "user" }],
  });
  assert.throws(
    () => parseOpenAIBody(schema, { messages: [{ role: "bot" }] }),
    (e) => e instanceof HttpError && e.status === 400 && e.param === "messages[0].role",
  );
});
