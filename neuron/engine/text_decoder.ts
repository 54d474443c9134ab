/**
 * Incremental, UTF-8 safe detokenizing: bytes of token pieces go in, whole
 * characters come out. A multi-byte character split across tokens is held
 * until complete; invalid bytes (random models emit them) become U+FFFD
 * instead of failing the request.
 *
 * Invalid input is cut into characters the way llama.cpp's grammar sampler
 * reads UTF-8 (the lead byte says how many continuation bytes follow), and
 * each such character that is not a Unicode scalar value (overlong, surrogate,
 * beyond U+10FFFF) becomes one U+FFFD. TextDecoder would write one U+FFFD per
 * bad byte instead, and a string the grammar held to maxLength characters
 * could come out longer.
 */

const REPLACEMENT = "\uFFFD";
/** Sequence length by the lead byte's high nibble (0: a continuation byte), as llama.cpp. */
const LENGTH = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 4];
/** The smallest code point each length may encode (shorter forms are overlong). */
const MIN_CODE_POINT = [0, 0, 0x80, 0x800, 0x10000];

export class IncrementalDecoder {
  /** Continuation bytes the pending sequence still needs (0: none pending). */
  #need = 0;
  #length = 0;
  #value = 0;

  push(bytes: Uint8Array): string {
    let out = "";
    for (const b of bytes) out += this.#byte(b);
    return out;
  }

  /** Ends the stream: an incomplete trailing sequence becomes U+FFFD. */
  flush(): string {
    if (this.#need === 0) return "";
    this.#need = 0;
    return REPLACEMENT;
  }

  #byte(b: number): string {
    if (this.#need > 0) {
      if ((b & 0xc0) === 0x80) {
        this.#value = (this.#value << 6) | (b & 0x3f);
        return --this.#need > 0 ? "" : this.#complete();
      }
      // Cut short: the pending bytes are one bad character; `b` starts afresh.
      this.#need = 0;
      return REPLACEMENT + this.#byte(b);
    }
    const n = LENGTH[b >> 4];
    if (n === 1) return String.fromCharCode(b);
    if (n === 0) return REPLACEMENT;
    this.#length = n;
    this.#need = n - 1;
    // llama.cpp's mask: 0xF8–0xFF keep a high bit and land beyond U+10FFFF.
    this.#value = b & ((1 << (8 - n)) - 1);
    return "";
  }

  #complete(): string {
    const cp = this.#value;
    const valid = cp >= MIN_CODE_POINT[this.#length] && cp <= 0x10ffff &&
      !(cp >= 0xd800 && cp <= 0xdfff);
    return valid ? String.fromCodePoint(cp) : REPLACEMENT;
  }
}
