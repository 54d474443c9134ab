/** The OpenAI dialect: request/response schemas for chat, completions, embeddings, models. */
export * from "./common.ts";
export * from "./chat.ts";
export * from "./completions.ts";
export * from "./embeddings.ts";
export * from "./models.ts";
export * from "./errors.ts";
