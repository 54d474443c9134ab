/**
 * A bounded in-memory store of responses, for `previous_response_id` (and for callers that
 * serve `GET /v1/responses/{id}`).
 *
 * Bounded two ways: at most `maxEntries` records (the least recently used goes first) and
 * none older than `maxAgeMs` (counted from `put`; reading does not extend it). Reading a
 * record, or a chain through it, makes it recently used. It lives and dies with the
 * process: a restart forgets every conversation, which clients see as the not-found error.
 *
 * What to store is the caller's decision, with one rule enforced here: a response whose
 * request said `store: false` is never kept (`put` returns false). Records are shared, not
 * copied: treat them as immutable.
 */
import { HttpError } from "../errors.ts";
import type { StoredResponse } from "./history.ts";

export interface ResponseStoreOptions {
  /** Most records kept; beyond it the least recently used is evicted. */
  maxEntries: number;
  /** A record is forgotten this long after it was put. */
  maxAgeMs: number;
  /** Milliseconds since the epoch; injectable for tests. Defaults to `Date.now`. */
  now?: () => number;
}

/**
 * A `previous_response_id` whose chain cannot be followed: `id` (the requested response or
 * one it continues) is unknown, expired or evicted: a 404 in the OpenAI error shape, naming
 * the link that is gone.
 */
export class ResponseNotFoundError extends HttpError {
  override name = "ResponseNotFoundError";
  /** The link that is missing. */
  readonly id: string;
  /** The response the chain was asked for. */
  readonly requestedId: string;

  constructor(id: string, requestedId: string) {
    const what = id === requestedId
      ? `no response with id ${JSON.stringify(id)}`
      : `response ${JSON.stringify(requestedId)} continues ${JSON.stringify(id)}, which is gone`;
    super(
      404,
      `previous_response_id: ${what} (unknown, expired or evicted from cortex's in-memory store)`,
      { code: "previous_response_not_found", param: "previous_response_id" },
    );
    this.id = id;
    this.requestedId = requestedId;
  }
}

interface Entry {
  record: StoredResponse;
  storedAt: number;
}

export class ResponseStore {
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  /** In least-recently-used-first order: a Map iterates in insertion order. */
  readonly #entries = new Map<string, Entry>();

  constructor(options: ResponseStoreOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer, got ${options.maxEntries}`);
    }
    if (!(options.maxAgeMs > 0)) {
      throw new RangeError(`maxAgeMs must be positive, got ${options.maxAgeMs}`);
    }
    this.#maxEntries = options.maxEntries;
    this.#maxAgeMs = options.maxAgeMs;
    this.#now = options.now ?? Date.now;
  }

  /** Records held and not expired. */
  get size(): number {
    this.prune();
    return this.#entries.size;
  }

  /**
   * Keeps `record` under its response id (replacing one with the same id), evicting the
   * least recently used beyond `maxEntries`. Returns false, keeping nothing, when the
   * response was created with `store: false`.
   */
  put(record: StoredResponse): boolean {
    if (record.response.store === false) return false;
    const id = record.response.id;
    this.#entries.delete(id);
    this.#entries.set(id, { record, storedAt: this.#now() });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    return true;
  }

  /** The record for `id`, or undefined when unknown or expired. Marks it recently used. */
  get(id: string): StoredResponse | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    this.#entries.delete(id);
    if (this.#expired(entry)) return undefined;
    this.#entries.set(id, entry);
    return entry.record;
  }

  /** Forgets `id`; true when it was held. */
  delete(id: string): boolean {
    const entry = this.#entries.get(id);
    if (!entry) return false;
    this.#entries.delete(id);
    return !this.#expired(entry);
  }

  /**
   * The chain that `previous_response_id: id` continues, oldest first and ending with `id`
   * itself (feed it to `historyFromChain`). Throws `ResponseNotFoundError` naming the link
   * when any response of the chain is unknown or expired.
   */
  chain(id: string): StoredResponse[] {
    const chain: StoredResponse[] = [];
    const seen = new Set<string>();
    for (let next: string | null = id; next !== null;) {
      // Ids are minted fresh, so a loop means a corrupt record, never a client mistake.
      if (seen.has(next)) throw new Error(`response chain loops at ${next}`);
      seen.add(next);
      const record = this.get(next);
      if (!record) throw new ResponseNotFoundError(next, id);
      chain.push(record);
      next = record.response.previous_response_id;
    }
    return chain.reverse();
  }

  /** Drops every expired record (they are otherwise dropped when met). */
  prune(): void {
    for (const [id, entry] of this.#entries) {
      if (this.#expired(entry)) this.#entries.delete(id);
    }
  }

  #expired(entry: Entry): boolean {
    return this.#now() - entry.storedAt >= this.#maxAgeMs;
  }
}
