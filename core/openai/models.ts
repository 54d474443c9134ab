/** OpenAI model list (`GET /v1/models`). Extra fields per model (cortex's own) are kept. */
import { z } from "zod";

export const ModelSchema = z.looseObject({
  id: z.string().min(1),
  object: z.literal("model"),
  created: z.int(),
  owned_by: z.string(),
});
export type Model = z.infer<typeof ModelSchema>;

export const ModelListSchema = z.object({
  object: z.literal("list"),
  data: z.array(ModelSchema),
});
export type ModelList = z.infer<typeof ModelListSchema>;
