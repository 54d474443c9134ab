/**
 * A decode abort switch that costs nothing on the compute thread.
 *
 * ggml's CPU backend polls `abort_callback(data)` after every graph node.
 * A JS callback there would cross threads hundreds of times per decode, so
 * the callback is libc's `strlen` and `data` points at a two-byte buffer:
 * "" (strlen 0, false) keeps going, "\x01" (strlen 1, true) aborts. The
 * worker flips the byte while the nonblocking decode runs.
 */

export class AbortFlag {
  readonly #bytes = new Uint8Array(2);
  readonly pointer: Deno.PointerValue = Deno.UnsafePointer.of(this.#bytes);

  get raised(): boolean {
    return this.#bytes[0] !== 0;
  }

  raise(): void {
    this.#bytes[0] = 1;
  }

  reset(): void {
    this.#bytes[0] = 0;
  }
}
