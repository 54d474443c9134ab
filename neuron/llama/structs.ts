/**
 * Byte layouts of the llama.cpp v0.4.0 structs we pass by value (x86-64 SysV).
 *
 * Checked against include/llama.h of that release; `checkLayouts` re-checks
 * them against the library's own defaults at open time, because a library
 * with another layout would read our bytes as garbage.
 */

export const MODEL_PARAMS_SIZE = 80;
export const CONTEXT_PARAMS_SIZE = 160;
export const BATCH_SIZE = 56;

/** Offsets in `struct llama_model_params`. */
export const MP = {
  devices: 0,
  tensor_buft_overrides: 8,
  n_gpu_layers: 16,
  split_mode: 20,
  load_mode: 24,
  lazy_mode: 28,
  main_gpu: 32,
  tensor_split: 40,
  progress_callback: 48,
  progress_callback_user_data: 56,
  kv_overrides: 64,
  vocab_only: 72,
  check_tensors: 73,
  use_extra_bufts: 74,
  no_host: 75,
  no_alloc: 76,
  load_mtp: 77,
} as const;

/** Offsets in `struct llama_context_params`. */
export const CP = {
  n_ctx: 0,
  n_batch: 4,
  n_ubatch: 8,
  n_seq_max: 12,
  n_rs_seq: 16,
  n_outputs_max: 20,
  n_outputs_max_per_seq: 24,
  n_threads: 28,
  n_threads_batch: 32,
  ctx_type: 36,
  rope_scaling_type: 40,
  pooling_type: 44,
  attention_type: 48,
  flash_attn_type: 52,
  type_k: 104,
  type_v: 108,
  abort_callback: 112,
  abort_callback_data: 120,
  embeddings: 128,
  offload_kqv: 129,
  no_perf: 130,
  op_offload: 131,
  swa_full: 132,
  kv_unified: 133,
  samplers: 136,
  n_samplers: 144,
  ctx_other: 152,
} as const;

/** Offsets in `struct llama_batch`. */
export const BT = {
  n_tokens: 0,
  token: 8,
  embd: 16,
  pos: 24,
  n_seq_id: 32,
  seq_id: 40,
  logits: 48,
} as const;

export const SPLIT_MODE_NONE = 0;
/** `enum llama_split_mode` for the modes a split may ask for. */
export const SPLIT_MODE = { layer: 1, row: 2 } as const;
export const POOLING_MEAN = 1;
export const FLASH_ATTN_AUTO = -1;
export const FLASH_ATTN_ENABLED = 1;
/** `enum ggml_type` values of the KV cache types offered (ggml.h). */
export const GGML_TYPE = { f16: 1, q4_0: 2, q8_0: 8 } as const;

export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function setPointer(dv: DataView, offset: number, p: Deno.PointerValue): void {
  dv.setBigUint64(offset, p === null ? 0n : BigInt(Deno.UnsafePointer.value(p)), true);
}

export function getPointer(dv: DataView, offset: number): Deno.PointerValue {
  return Deno.UnsafePointer.create(dv.getBigUint64(offset, true));
}

/**
 * Verifies the library's default params read back as the documented
 * defaults at our offsets. Returns a list of mismatches (empty = ok).
 */
export function checkLayouts(modelDefaults: Uint8Array, contextDefaults: Uint8Array): string[] {
  const problems: string[] = [];
  const m = view(modelDefaults);
  const c = view(contextDefaults);
  const expect = (what: string, got: number, want: number) => {
    if (got !== want) problems.push(`${what}: read ${got}, expected ${want}`);
  };
  expect("model_params.n_gpu_layers", m.getInt32(MP.n_gpu_layers, true), -1);
  expect("model_params.split_mode", m.getInt32(MP.split_mode, true), 1);
  expect("model_params.use_extra_bufts", m.getUint8(MP.use_extra_bufts), 1);
  expect("model_params.padding", m.getUint32(MP.main_gpu + 4, true), 0);
  expect("context_params.n_batch", c.getUint32(CP.n_batch, true), 2048);
  expect("context_params.n_ubatch", c.getUint32(CP.n_ubatch, true), 512);
  expect("context_params.n_seq_max", c.getUint32(CP.n_seq_max, true), 1);
  expect("context_params.flash_attn_type", c.getInt32(CP.flash_attn_type, true), -1);
  expect("context_params.type_k (f16)", c.getInt32(CP.type_k, true), 1);
  expect("context_params.offload_kqv", c.getUint8(CP.offload_kqv), 1);
  expect("context_params.n_samplers", Number(c.getBigUint64(CP.n_samplers, true)), 0);
  return problems;
}
