/**
 * A request as the gateway's server hands it to the gateway: method, path,
 * header fields and an abort signal, with the body read on demand under a
 * size limit. No Web `Request` or `Headers` is built: on the proxy's hot
 * path those cost more than the rest of the request's own work.
 */

import { targetPath } from "../../core/request_path.ts";
import type { Bytes } from "./wire.ts";

/** What the gateway reads of a request's fields; `Headers` has this shape too. */
export interface HeaderReader {
  get(name: string): string | null;
  has(name: string): boolean;
  forEach(fn: (value: string, name: string) => void): void;
}

/** Header fields as received: lower-case names, repeats kept in order. */
export class Fields implements HeaderReader {
  constructor(readonly names: string[], readonly values: string[]) {}

  /** The field's value, repeats joined with ", " (as `Headers.get` does); null when absent. */
  get(name: string): string | null {
    const key = name.toLowerCase();
    let out: string | null = null;
    for (let i = 0; i < this.names.length; i++) {
      if (this.names[i] === key) out = out === null ? this.values[i] : `${out}, ${this.values[i]}`;
    }
    return out;
  }

  has(name: string): boolean {
    return this.names.includes(name.toLowerCase());
  }

  forEach(fn: (value: string, name: string) => void): void {
    for (let i = 0; i < this.names.length; i++) fn(this.values[i], this.names[i]);
  }
}

export class IncomingRequest {
  #path: string | undefined;

  constructor(
    readonly method: string,
    /** The request target as sent (`/v1/models?x=1`). */
    readonly target: string,
    readonly headers: Fields,
    /** Aborts when the client goes away before its answer was sent. */
    readonly signal: AbortSignal,
    readonly readBody: (maxBytes: number) => Promise<Bytes>,
  ) {}

  /** The target's path, as a URL parser reads it (dot segments resolved, query dropped). */
  get path(): string {
    return this.#path ??= targetPath(this.target);
  }

  /**
   * The whole body, at most `maxBytes` (413 beyond, before reading when the
   * length is declared). Rejects with 400 if the client stops sending midway.
   */
  bytes(maxBytes: number): Promise<Bytes> {
    return this.readBody(maxBytes);
  }
}
