/**
 * Incremental, UTF-8 safe detokenizing: bytes of token pieces go in, whole
 * characters come out. A multi-byte character split across tokens is held
 * until complete; invalid bytes (random models emit them) become U+FFFD
 * instead of failing the request.
 */

export class IncrementalDecoder {
  #decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

  push(bytes: Uint8Array): string {
    return bytes.length ? this.#decoder.decode(bytes, { stream: true }) : "";
  }

  /** Ends the stream: an incomplete trailing sequence becomes U+FFFD. */
  flush(): string {
    return this.#decoder.decode();
  }
}
