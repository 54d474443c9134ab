/** The OpenAI error envelope: `{"error":{"message","type","param","code"}}`. */
import { z } from "zod";
import { describeZodError, formatPath, HttpError } from "../errors.ts";

/**
 * The envelope as upstreams send it. `param` and `code` are often absent, and llama.cpp sends
 * a numeric `code`, so both are tolerated when reading one.
 */
export const OpenAIErrorEnvelopeSchema = z.object({
  error: z.looseObject({
    message: z.string(),
    type: z.string().nullish(),
    param: z.string().nullish(),
    code: z.union([z.string(), z.number()]).nullish(),
  }),
});
export type OpenAIErrorEnvelope = z.infer<typeof OpenAIErrorEnvelopeSchema>;

/** The envelope as cortex writes it: every field present. */
export interface OpenAIError {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function openaiError(
  message: string,
  options: { type?: string; param?: string | null; code?: string | null } = {},
): OpenAIError {
  return {
    error: {
      message,
      type: options.type ?? "invalid_request_error",
      param: options.param ?? null,
      code: options.code ?? null,
    },
  };
}

/**
 * A request that failed its schema as an OpenAI error naming the field in OpenAI's style:
 * `param: "messages[0].role"`, message `"messages[0].role: unsupported value ..."`. Pass the
 * request body as `input` so that the message can name the offending value.
 */
export function zodToOpenAIError(error: z.ZodError, input?: unknown): OpenAIError {
  const problem = describeZodError(error, input);
  const param = problem.path.length ? formatPath(problem.path, "bracket") : null;
  return openaiError(param ? `${param}: ${problem.message}` : problem.message, {
    type: "invalid_request_error",
    param,
    code: problem.code,
  });
}

/** Parses `body` with `schema`, throwing a 400 `HttpError` that names the field in OpenAI style. */
export function parseOpenAIBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const { error } = zodToOpenAIError(result.error, body);
  throw new HttpError(400, error.message, { code: error.code, param: error.param });
}
