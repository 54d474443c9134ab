/** Tokenizer access over a loaded model's vocabulary. */

import type { LlamaSymbols } from "./library.ts";

const encoder = new TextEncoder();
/** llama_token_attr bits of the tokens that detokenize to nothing unless `special` is set. */
const ATTR_UNKNOWN = 1 << 0;
const ATTR_CONTROL = 1 << 3;

export class Vocab {
  readonly ptr: Deno.PointerValue;
  readonly nTokens: number;
  readonly addBos: boolean;
  #llama: LlamaSymbols;
  #pieceBuf = new Uint8Array(256);
  #pieceCache = new Map<number, Uint8Array>();
  #tokBuf = new Int32Array(4096);
  /** Control tokens rendered as text anyway (tool-call markers the parser must see). */
  #visible = new Set<number>();
  #hidden: number[] | null = null;
  #eog: number[] | null = null;

  constructor(llama: LlamaSymbols, ptr: Deno.PointerValue) {
    this.#llama = llama;
    this.ptr = ptr;
    this.nTokens = llama.llama_vocab_n_tokens(ptr);
    this.addBos = llama.llama_vocab_get_add_bos(ptr);
  }

  /**
   * Tokenizes text. `special` parses control-token text such as
   * `<|im_start|>` into single tokens (rendered chat prompts need it).
   */
  tokenize(text: string, opts: { addSpecial?: boolean; special?: boolean } = {}): Int32Array {
    const bytes = encoder.encode(text);
    // Upper bound: one token per byte plus BOS/EOS.
    if (this.#tokBuf.length < bytes.length + 2) this.#tokBuf = new Int32Array(bytes.length + 2);
    const n = this.#llama.llama_tokenize(
      this.ptr,
      bytes,
      bytes.length,
      this.#tokBuf,
      this.#tokBuf.length,
      opts.addSpecial ?? true,
      opts.special ?? true,
    );
    if (n < 0) throw new Error(`tokenize failed: needs ${-n} tokens`);
    return this.#tokBuf.slice(0, n);
  }

  /** Renders these control tokens as their text in generated output. */
  showAsText(tokens: Iterable<number>): void {
    for (const t of tokens) this.#visible.add(t);
    this.#pieceCache.clear();
    this.#hidden = null;
  }

  /**
   * Tokens that generated text leaves out (control and unknown tokens not shown as text,
   * end-of-generation aside). llama.cpp's grammar sampler matches them by their text
   * (`<|im_start|>`, `<unk>`), so a grammar over the answer's text must not get them.
   */
  hiddenTokens(): readonly number[] {
    if (this.#hidden) return this.#hidden;
    const out: number[] = [];
    for (let t = 0; t < this.nTokens; t++) {
      if (this.attr(t) & (ATTR_UNKNOWN | ATTR_CONTROL) && !this.#visible.has(t) && !this.isEog(t)) {
        out.push(t);
      }
    }
    return this.#hidden = out;
  }

  /** The bytes a token renders to as generated text (control tokens render empty). */
  piece(token: number): Uint8Array {
    let p = this.#pieceCache.get(token);
    if (p) return p;
    const special = this.#visible.has(token);
    let n = this.#llama.llama_token_to_piece(
      this.ptr,
      token,
      this.#pieceBuf,
      this.#pieceBuf.length,
      0,
      special,
    );
    if (n < 0) {
      this.#pieceBuf = new Uint8Array(-n);
      n = this.#llama.llama_token_to_piece(
        this.ptr,
        token,
        this.#pieceBuf,
        this.#pieceBuf.length,
        0,
        special,
      );
    }
    p = this.#pieceBuf.slice(0, Math.max(0, n));
    this.#pieceCache.set(token, p);
    return p;
  }

  /** The token's text as stored in the vocabulary (e.g. `<think>`, `▁the`). */
  text(token: number): string {
    const p = this.#llama.llama_vocab_get_text(this.ptr, token);
    return p === null ? "" : Deno.UnsafePointerView.getCString(p);
  }

  /** Every end-of-generation token (EOS, EOT, `<|im_end|>`, …). */
  eogTokens(): readonly number[] {
    if (this.#eog) return this.#eog;
    const out: number[] = [];
    for (let t = 0; t < this.nTokens; t++) if (this.isEog(t)) out.push(t);
    return this.#eog = out;
  }

  isEog(token: number): boolean {
    return this.#llama.llama_vocab_is_eog(this.ptr, token);
  }

  isControl(token: number): boolean {
    return this.#llama.llama_vocab_is_control(this.ptr, token);
  }

  attr(token: number): number {
    return this.#llama.llama_vocab_get_attr(this.ptr, token);
  }

  /** The single token `text` parses to as special text, or undefined if it is not one token. */
  singleToken(text: string): number | undefined {
    const t = this.tokenize(text, { addSpecial: false, special: true });
    return t.length === 1 ? t[0] : undefined;
  }
}
