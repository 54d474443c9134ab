/**
 * Conversation affinity: an agent's next turn resends the whole conversation plus a little,
 * and only the neuron that served the last turn holds that prefix in a slot's KV cache
 * (elsewhere the 30k-token prefix is prefilled again: seconds on a GPU, minutes on a CPU).
 * This module names a conversation and remembers which neuron served it; the router asks it
 * first and falls back to its own choice (least loaded) when the neuron is not eligible.
 *
 * The key is, in order: a session id the client sends (`x-claude-code-session-id`, Codex's
 * `session_id` header or `prompt_cache_key` field), else a hash of the conversation's head
 * (model, system prompt, tools and messages up to the first user turn), which every later
 * turn of the same conversation repeats byte for byte. The hash works for every client; the
 * session id also survives a compaction that rewrites the head. Pure: no I/O, no clock
 * unless given.
 */

/** Headers real agents send that name a conversation, most specific first. */
export const SESSION_HEADERS = [
  "x-claude-code-session-id",
  "session_id",
  "session-id",
  "x-session-id",
] as const;

/** What a request body may carry that identifies its conversation (any dialect). */
export interface ConversationBody {
  model?: unknown;
  /** OpenAI Responses / Codex: an explicit cache key. */
  prompt_cache_key?: unknown;
  system?: unknown;
  instructions?: unknown;
  tools?: unknown;
  messages?: unknown;
  input?: unknown;
}

/** A conversation's key, or null when the request carries nothing to key on. */
export function conversationKey(headers: Headers, body: ConversationBody): string | null {
  const model = typeof body.model === "string" ? body.model : "";
  for (const h of SESSION_HEADERS) {
    const v = headers.get(h)?.trim();
    if (v) return `s:${model}:${v}`;
  }
  if (typeof body.prompt_cache_key === "string" && body.prompt_cache_key) {
    return `s:${model}:${body.prompt_cache_key}`;
  }
  const turns = Array.isArray(body.messages)
    ? body.messages
    : Array.isArray(body.input)
    ? body.input
    : typeof body.input === "string"
    ? [{ role: "user", content: body.input }]
    : null;
  if (!turns?.length) return null;
  const head = turns.slice(0, firstUserTurn(turns) + 1);
  return `h:${model}:${hash(JSON.stringify([body.system, body.instructions, body.tools, head]))}`;
}

/** Index of the first user turn (the end of what every later turn repeats). */
function firstUserTurn(turns: unknown[]): number {
  const i = turns.findIndex((t) =>
    t !== null && typeof t === "object" && (t as { role?: unknown }).role === "user"
  );
  return i < 0 ? turns.length - 1 : i;
}

/** Two 32-bit FNV-1a passes (different offsets): 64 bits, enough to tell conversations apart. */
export function hash(s: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x9e3779b9;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
}

export interface AffinityOptions {
  /** Conversations remembered; the least recently used are forgotten first. */
  maxEntries?: number;
  /** A conversation idle this long is forgotten (its cache has likely been reused). */
  ttlMs?: number;
  now?: () => number;
}

/** Conversation key → the neuron that last served it, bounded in size and age. */
export class AffinityTable {
  readonly #entries = new Map<string, { neuron: string; at: number }>();
  readonly #max: number;
  readonly #ttl: number;
  readonly #now: () => number;

  constructor(opts: AffinityOptions = {}) {
    this.#max = opts.maxEntries ?? 10_000;
    this.#ttl = opts.ttlMs ?? 30 * 60_000;
    this.#now = opts.now ?? Date.now;
  }

  /** The neuron holding this conversation, if it is among `eligible`; else null. */
  pick(key: string | null, eligible: readonly string[]): string | null {
    if (key === null) return null;
    const e = this.#entries.get(key);
    if (!e) return null;
    if (this.#now() - e.at > this.#ttl) {
      this.#entries.delete(key);
      return null;
    }
    return eligible.includes(e.neuron) ? e.neuron : null;
  }

  /** Remembers where a conversation was served (call once the neuron accepted it). */
  record(key: string | null, neuron: string): void {
    if (key === null) return;
    this.#entries.delete(key); // re-insert: Map order is the LRU order
    this.#entries.set(key, { neuron, at: this.#now() });
    while (this.#entries.size > this.#max) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }

  /** Forgets every conversation on a neuron (it went down, or unloaded the model). */
  forgetNeuron(neuron: string): void {
    for (const [k, e] of this.#entries) if (e.neuron === neuron) this.#entries.delete(k);
  }

  get size(): number {
    return this.#entries.size;
  }
}
