/** Loading and freeing a model, with progress and cancellation. */

import type { LlamaLibrary } from "./library.ts";
import { MP, setPointer, SPLIT_MODE, SPLIT_MODE_NONE, view } from "./structs.ts";
import { Vocab } from "./vocab.ts";

export interface LoadModelOptions {
  /** ggml device handles to offload to; empty = CPU only. */
  devices: Deno.PointerValue[];
  /** Layers on the devices: -1 = all. Ignored without devices. */
  gpuLayers?: number;
  /**
   * Split over several devices: llama.cpp's split mode and `tensor_split` (one share per
   * device of `devices`). Absent: the first device only.
   */
  split?: { mode: "layer" | "row"; tensorSplit: number[] };
  /** Called with 0..1 while tensors load; from the loader thread, so keep it cheap. */
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
}

export interface ModelInfo {
  description: string;
  sizeBytes: number;
  params: number;
  nCtxTrain: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  chatTemplate: string | null;
}

const PROGRESS = { parameters: ["f32", "pointer"], result: "bool" } as const;

export class LoadCancelledError extends Error {
  override name = "LoadCancelledError";
}

export class LlamaModel {
  readonly ptr: Deno.PointerValue;
  readonly vocab: Vocab;
  readonly info: ModelInfo;
  #lib: LlamaLibrary;
  #freed = false;

  private constructor(lib: LlamaLibrary, ptr: Deno.PointerValue) {
    this.#lib = lib;
    this.ptr = ptr;
    const l = lib.llama;
    this.vocab = new Vocab(l, l.llama_model_get_vocab(ptr));
    const desc = new Uint8Array(256);
    const n = l.llama_model_desc(ptr, desc, BigInt(desc.length));
    const tmpl = l.llama_model_chat_template(ptr, null);
    this.info = {
      description: new TextDecoder().decode(desc.subarray(0, Math.max(0, n))),
      sizeBytes: Number(l.llama_model_size(ptr)),
      params: Number(l.llama_model_n_params(ptr)),
      nCtxTrain: l.llama_model_n_ctx_train(ptr),
      nEmbd: l.llama_model_n_embd(ptr),
      nLayer: l.llama_model_n_layer(ptr),
      nHead: l.llama_model_n_head(ptr),
      nHeadKv: l.llama_model_n_head_kv(ptr),
      chatTemplate: tmpl === null ? null : Deno.UnsafePointerView.getCString(tmpl),
    };
  }

  /**
   * Loads a GGUF file off-thread. Rejects with LoadCancelledError when the
   * signal aborts (llama.cpp frees what it allocated before returning NULL).
   */
  static async load(lib: LlamaLibrary, path: string, opts: LoadModelOptions): Promise<LlamaModel> {
    const l = lib.llama;
    const params = l.llama_model_default_params();
    const dv = view(params);
    // NULL-terminated device list; kept alive until the load returns.
    const devs = new BigUint64Array(opts.devices.length + 1);
    opts.devices.forEach((d, i) => devs[i] = BigInt(Deno.UnsafePointer.value(d)));
    setPointer(dv, MP.devices, Deno.UnsafePointer.of(devs));
    dv.setInt32(MP.n_gpu_layers, opts.devices.length ? (opts.gpuLayers ?? -1) : 0, true);
    dv.setInt32(MP.split_mode, opts.split ? SPLIT_MODE[opts.split.mode] : SPLIT_MODE_NONE, true);
    dv.setInt32(MP.main_gpu, 0, true);
    // llama.cpp reads llama_max_devices() floats; kept alive until the load returns.
    const shares = new Float32Array(Number(l.llama_max_devices()));
    if (opts.split) {
      shares.set(opts.split.tensorSplit);
      setPointer(dv, MP.tensor_split, Deno.UnsafePointer.of(shares));
    }

    let progress: Deno.UnsafeCallback<typeof PROGRESS> | undefined;
    if (opts.onProgress || opts.signal) {
      progress = new Deno.UnsafeCallback(PROGRESS, (fraction) => {
        if (opts.signal?.aborted) return false;
        opts.onProgress?.(fraction);
        return true;
      });
      setPointer(dv, MP.progress_callback, progress.pointer);
    }
    try {
      if (opts.signal?.aborted) throw new LoadCancelledError("load cancelled");
      const ptr = await l.llama_model_load_from_file(
        new TextEncoder().encode(path + "\0"),
        params,
      );
      if (ptr === null) {
        if (opts.signal?.aborted) throw new LoadCancelledError("load cancelled");
        throw new Error(`llama.cpp could not load ${path} (see the llama.cpp log lines above)`);
      }
      if (opts.signal?.aborted) {
        l.llama_model_free(ptr);
        throw new LoadCancelledError("load cancelled");
      }
      return new LlamaModel(lib, ptr);
    } finally {
      progress?.close();
      void devs; // the device list and shares must outlive the call
      void shares;
    }
  }

  /** A GGUF metadata value as a string, or undefined when absent. */
  meta(key: string): string | undefined {
    const buf = new Uint8Array(4096);
    const n = this.#lib.llama.llama_model_meta_val_str(
      this.ptr,
      new TextEncoder().encode(key + "\0"),
      buf,
      BigInt(buf.length),
    );
    return n < 0
      ? undefined
      : new TextDecoder().decode(buf.subarray(0, Math.min(n, buf.length - 1)));
  }

  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.#lib.llama.llama_model_free(this.ptr);
  }

  /** Frees off-thread: with an RPC device, a lost server parks the call, not the thread. */
  async freeOffThread(): Promise<void> {
    if (this.#freed) return;
    this.#freed = true;
    await this.#lib.llama.llama_model_free_async(this.ptr);
  }
}
