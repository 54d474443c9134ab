/** The Ollama API, translated to and from the neuron's OpenAI dialect. */
export * from "./request.ts";
export * from "./response.ts";
export * from "./model_info.ts";
