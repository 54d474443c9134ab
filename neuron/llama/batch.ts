/**
 * A reusable `llama_batch` whose arrays live in JS-owned buffers, so filling
 * it costs typed-array writes and no FFI calls. One sequence id per token.
 */

import { BATCH_SIZE, BT, setPointer, view } from "./structs.ts";

export class Batch {
  readonly capacity: number;
  readonly token: Int32Array;
  readonly pos: Int32Array;
  readonly seq: Int32Array;
  readonly logits: Int8Array;
  /** The struct passed by value to llama_decode. */
  readonly struct: Uint8Array;
  #nSeqId: Int32Array;
  #seqPtrs: BigUint64Array;
  #dv: DataView;
  #n = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.token = new Int32Array(capacity);
    this.pos = new Int32Array(capacity);
    this.seq = new Int32Array(capacity);
    this.logits = new Int8Array(capacity);
    this.#nSeqId = new Int32Array(capacity).fill(1);
    // seq_id is an array of pointers, one per token, each to that token's single id.
    this.#seqPtrs = new BigUint64Array(capacity);
    const seqBase = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.seq)));
    for (let i = 0; i < capacity; i++) this.#seqPtrs[i] = seqBase + BigInt(i * 4);
    this.struct = new Uint8Array(BATCH_SIZE);
    this.#dv = view(this.struct);
    setPointer(this.#dv, BT.token, Deno.UnsafePointer.of(this.token));
    setPointer(this.#dv, BT.embd, null);
    setPointer(this.#dv, BT.pos, Deno.UnsafePointer.of(this.pos));
    setPointer(this.#dv, BT.n_seq_id, Deno.UnsafePointer.of(this.#nSeqId));
    setPointer(this.#dv, BT.seq_id, Deno.UnsafePointer.of(this.#seqPtrs));
    setPointer(this.#dv, BT.logits, Deno.UnsafePointer.of(this.logits));
  }

  get size(): number {
    return this.#n;
  }

  clear(): void {
    this.#n = 0;
    this.#dv.setInt32(BT.n_tokens, 0, true);
  }

  /** Appends a token; returns its index in the batch (the logits index when `output`). */
  add(token: number, pos: number, seq: number, output: boolean): number {
    const i = this.#n;
    if (i >= this.capacity) throw new RangeError(`batch full (${this.capacity})`);
    this.token[i] = token;
    this.pos[i] = pos;
    this.seq[i] = seq;
    this.logits[i] = output ? 1 : 0;
    this.#n = i + 1;
    this.#dv.setInt32(BT.n_tokens, this.#n, true);
    return i;
  }

  /** Marks the last added token as producing output. */
  outputLast(): number {
    this.logits[this.#n - 1] = 1;
    return this.#n - 1;
  }
}
