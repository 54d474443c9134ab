/** `POST /v1/embeddings`: pooled, L2-normalised vectors from a model loaded with embeddings. */

import { HttpError } from "../../core/errors.ts";
import {
  EmbeddingRequestSchema,
  encodeEmbeddingBase64,
  parseOpenAIBody,
} from "../../core/openai/mod.ts";
import { EngineError } from "../engine/types.ts";
import type { Neuron } from "../node.ts";
import { engineHttpError, json } from "../server/http.ts";
import { checkTokenIds } from "./generation.ts";

/**
 * The inputs with every one longer than `max` tokens cut to its first `max` (as token ids;
 * the others stay as they were). Only a request the embedder refused as too long pays for
 * this tokenization. The tokenizer here reads special-token text as those tokens, where the
 * embedder reads it as plain text: an over-long input that spells out a control token is cut
 * as if it were one token.
 */
async function cut(
  neuron: Neuron,
  model: string,
  inputs: (string | number[])[],
  max: number,
): Promise<(string | number[])[]> {
  return await Promise.all(inputs.map(async (x) => {
    const tokens = typeof x === "string" ? await neuron.engine.tokenize(model, x, true) : x;
    return tokens.length > max ? tokens.slice(0, max) : x;
  }));
}

export async function embeddings(neuron: Neuron, body: unknown): Promise<Response> {
  const r = parseOpenAIBody(EmbeddingRequestSchema, body);
  const rec = neuron.loaded(r.model);
  if (!rec.info!.embeddings) {
    throw new HttpError(
      400,
      `model ${r.model} was not loaded with embeddings enabled (load it with "embeddings": true)`,
      { param: "model", code: "embeddings_disabled" },
    );
  }
  if (r.dimensions != null && r.dimensions !== rec.info!.nEmbd) {
    throw new HttpError(
      400,
      `dimensions must be ${rec.info!.nEmbd} for this model (truncation is not supported)`,
      { param: "dimensions", code: "unsupported_parameter" },
    );
  }
  const inputs: (string | number[])[] = typeof r.input === "string"
    ? [r.input]
    : typeof r.input[0] === "number"
    ? [r.input as number[]]
    : r.input as (string | number[])[];
  checkTokenIds(r.input, rec.info!.nVocab, "input");
  inputs.forEach((x, i) => {
    if (typeof x === "string" && x.length === 0) {
      throw new HttpError(400, `input[${i}] is empty`, { param: `input[${i}]` });
    }
  });
  rec.inFlight++;
  try {
    const res = await neuron.engine.embed(r.model, inputs).catch(async (e) => {
      const tooLong = e instanceof EngineError && e.code === "context_exceeded" && e.limit;
      if (!r.truncate || !tooLong) throw e;
      return await neuron.engine.embed(r.model, await cut(neuron, r.model, inputs, tooLong.max));
    });
    const base64 = r.encoding_format === "base64";
    return json({
      object: "list",
      data: res.vectors.map((v, index) => ({
        object: "embedding",
        index,
        embedding: base64 ? encodeEmbeddingBase64(v) : v,
      })),
      model: r.model,
      usage: { prompt_tokens: res.promptTokens, total_tokens: res.promptTokens },
    });
  } catch (e) {
    if (e instanceof EngineError) throw engineHttpError(e, r.model, "input");
    throw e;
  } finally {
    rec.inFlight--;
    rec.lastUsed = Date.now();
  }
}
