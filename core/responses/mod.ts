/** The OpenAI Responses API and its translation to and from OpenAI chat completions. */
export * from "./request.ts";
export * from "./response.ts";
export * from "./to_chat.ts";
export * from "./from_chat.ts";
export * from "./stream.ts";
export * from "./history.ts";
export * from "./store.ts";
