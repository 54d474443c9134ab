/** The Anthropic Messages dialect and its translation to and from OpenAI chat completions. */
export * from "./request.ts";
export * from "./response.ts";
export * from "./to_openai.ts";
export * from "./from_openai.ts";
export * from "./stream.ts";
