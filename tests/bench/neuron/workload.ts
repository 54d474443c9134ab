/** What the neuron bench sends, and what one request measured. */

/**
 * One request: the user's message for the HTTP API, and for the engine the prompt the
 * neuron renders from it (the engine tokenizes it, as it does behind the API).
 */
export interface BenchPrompt {
  text: string;
  rendered: string;
  /** Whether the engine adds BOS (the neuron's rule: unless the rendering starts with it). */
  addSpecial: boolean;
}

export interface RequestSpec {
  prompt: BenchPrompt;
  maxTokens: number;
  /** token id → bias; the bench bans end-of-generation so every run yields maxTokens. */
  logitBias: Record<number, number>;
}

/** One request as its caller saw it, from the call (ms since the call). */
export interface RequestFigures {
  /** The first generated token reached the caller. */
  ttftMs: number;
  /** The end of the generation reached the caller. */
  endMs: number;
  promptTokens: number;
  completionTokens: number;
}

export interface Peer {
  readonly name: "http" | "engine";
  run(spec: RequestSpec): Promise<RequestFigures>;
  close(): Promise<void>;
}

/** Tokens per second between the first token and the end (the decode rate the caller sees). */
export function streamRate(f: RequestFigures): number {
  const ms = f.endMs - f.ttftMs;
  return f.completionTokens > 1 && ms > 0 ? (f.completionTokens - 1) / (ms / 1000) : NaN;
}

/** Short user messages, distinct so each request prefills its own text after the shared head. */
export function promptTexts(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `Benchmark request ${i + 1}: say something short.`);
}

/** Chat template switches shared by the HTTP requests and the tokenization for the engine. */
export const TEMPLATE_KWARGS = { enable_thinking: false } as const;
