/**
 * Foreign function declarations for the llama.cpp v0.4.0 shared libraries.
 *
 * Only what the engine uses is declared; Deno.dlopen fails on a missing
 * symbol, which is the first line of defence against an unknown library.
 * Struct-by-value parameters are declared with the byte layout verified in
 * `structs.ts`.
 */

import { BATCH_SIZE, CONTEXT_PARAMS_SIZE, MODEL_PARAMS_SIZE } from "./structs.ts";

const bytes = (n: number): Deno.NativeStructType => ({ struct: Array(n / 8).fill("u64") });

export const MODEL_PARAMS = bytes(MODEL_PARAMS_SIZE);
export const CONTEXT_PARAMS = bytes(CONTEXT_PARAMS_SIZE);
export const BATCH = bytes(BATCH_SIZE);

/** libggml-base: logging. */
export const GGML_BASE_SYMBOLS = {
  ggml_log_set: { parameters: ["function", "pointer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** libggml: backend registry and device API. */
export const GGML_SYMBOLS = {
  ggml_backend_load_all_from_path: { parameters: ["buffer"], result: "void" },
  ggml_backend_reg_count: { parameters: [], result: "usize" },
  ggml_backend_reg_get: { parameters: ["usize"], result: "pointer" },
  ggml_backend_reg_name: { parameters: ["pointer"], result: "pointer" },
  ggml_backend_dev_count: { parameters: [], result: "usize" },
  ggml_backend_dev_get: { parameters: ["usize"], result: "pointer" },
  ggml_backend_dev_name: { parameters: ["pointer"], result: "pointer" },
  ggml_backend_dev_description: { parameters: ["pointer"], result: "pointer" },
  ggml_backend_dev_type: { parameters: ["pointer"], result: "i32" },
  ggml_backend_dev_memory: { parameters: ["pointer", "buffer", "buffer"], result: "void" },
  ggml_backend_dev_get_props: { parameters: ["pointer", "buffer"], result: "void" },
  ggml_backend_dev_backend_reg: { parameters: ["pointer"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** libllama: models, contexts, vocab, batches, sampling. */
export const LLAMA_SYMBOLS = {
  llama_version: { parameters: [], result: "pointer", optional: true },
  llama_backend_init: { parameters: [], result: "void" },
  llama_log_set: { parameters: ["function", "pointer"], result: "void" },
  llama_print_system_info: { parameters: [], result: "pointer" },
  llama_max_devices: { parameters: [], result: "usize" },
  // A trivial call made off-thread: awaiting it is one real event-loop turn.
  llama_time_us_async: { name: "llama_time_us", parameters: [], result: "i64", nonblocking: true },
  llama_supports_gpu_offload: { parameters: [], result: "bool" },

  llama_model_default_params: { parameters: [], result: MODEL_PARAMS },
  llama_context_default_params: { parameters: [], result: CONTEXT_PARAMS },
  llama_sampler_chain_default_params: { parameters: [], result: "u8" },

  // Loading can take seconds: off the worker's thread so it keeps serving.
  llama_model_load_from_file: {
    parameters: ["buffer", MODEL_PARAMS],
    result: "pointer",
    nonblocking: true,
  },
  llama_model_free: { parameters: ["pointer"], result: "void" },
  /** Off-thread: freeing an RPC device's buffers is a call to its server (see rpc.ts). */
  llama_model_free_async: {
    name: "llama_model_free",
    parameters: ["pointer"],
    result: "void",
    nonblocking: true,
  },
  llama_init_from_model: {
    parameters: ["pointer", CONTEXT_PARAMS],
    result: "pointer",
    nonblocking: true,
  },
  llama_free: { parameters: ["pointer"], result: "void" },
  llama_free_async: {
    name: "llama_free",
    parameters: ["pointer"],
    result: "void",
    nonblocking: true,
  },

  llama_model_get_vocab: { parameters: ["pointer"], result: "pointer" },
  llama_model_n_ctx_train: { parameters: ["pointer"], result: "i32" },
  llama_model_n_embd: { parameters: ["pointer"], result: "i32" },
  llama_model_n_layer: { parameters: ["pointer"], result: "i32" },
  llama_model_n_head: { parameters: ["pointer"], result: "i32" },
  llama_model_n_head_kv: { parameters: ["pointer"], result: "i32" },
  llama_model_size: { parameters: ["pointer"], result: "u64" },
  llama_model_n_params: { parameters: ["pointer"], result: "u64" },
  llama_model_desc: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  llama_model_chat_template: { parameters: ["pointer", "pointer"], result: "pointer" },
  llama_model_meta_val_str: {
    parameters: ["pointer", "buffer", "buffer", "usize"],
    result: "i32",
  },
  llama_model_has_encoder: { parameters: ["pointer"], result: "bool" },
  llama_model_has_decoder: { parameters: ["pointer"], result: "bool" },

  llama_n_ctx: { parameters: ["pointer"], result: "u32" },
  llama_n_batch: { parameters: ["pointer"], result: "u32" },
  llama_n_seq_max: { parameters: ["pointer"], result: "u32" },
  llama_get_memory: { parameters: ["pointer"], result: "pointer" },
  llama_memory_clear: { parameters: ["pointer", "bool"], result: "void" },
  llama_memory_seq_rm: { parameters: ["pointer", "i32", "i32", "i32"], result: "bool" },
  llama_memory_seq_pos_max: { parameters: ["pointer", "i32"], result: "i32" },
  llama_set_n_threads: { parameters: ["pointer", "i32", "i32"], result: "void" },
  llama_set_embeddings: { parameters: ["pointer", "bool"], result: "void" },
  llama_set_abort_callback: { parameters: ["pointer", "pointer", "pointer"], result: "void" },

  llama_batch_init: { parameters: ["i32", "i32", "i32"], result: BATCH },
  llama_batch_free: { parameters: [BATCH], result: "void" },
  // The hot call: nonblocking so the worker's event loop stays live while it runs.
  llama_decode: { parameters: ["pointer", BATCH], result: "i32", nonblocking: true },
  // Same symbol, on the calling thread: for the plain-loop benchmark peer.
  llama_decode_sync: { name: "llama_decode", parameters: ["pointer", BATCH], result: "i32" },
  // Waits for a decode's device work (an RPC device's runs on, past llama_decode's return).
  llama_synchronize: { parameters: ["pointer"], result: "void", nonblocking: true },
  llama_get_logits_ith: { parameters: ["pointer", "i32"], result: "pointer" },
  llama_get_embeddings_seq: { parameters: ["pointer", "i32"], result: "pointer" },
  llama_get_embeddings_ith: { parameters: ["pointer", "i32"], result: "pointer" },
  llama_pooling_type: { parameters: ["pointer"], result: "i32" },

  llama_vocab_n_tokens: { parameters: ["pointer"], result: "i32" },
  llama_vocab_type: { parameters: ["pointer"], result: "i32" },
  llama_vocab_get_text: { parameters: ["pointer", "i32"], result: "pointer" },
  llama_vocab_get_attr: { parameters: ["pointer", "i32"], result: "i32" },
  llama_vocab_is_eog: { parameters: ["pointer", "i32"], result: "bool" },
  llama_vocab_is_control: { parameters: ["pointer", "i32"], result: "bool" },
  llama_vocab_bos: { parameters: ["pointer"], result: "i32" },
  llama_vocab_eos: { parameters: ["pointer"], result: "i32" },
  llama_vocab_eot: { parameters: ["pointer"], result: "i32" },
  llama_vocab_get_add_bos: { parameters: ["pointer"], result: "bool" },
  llama_tokenize: {
    parameters: ["pointer", "buffer", "i32", "buffer", "i32", "bool", "bool"],
    result: "i32",
  },
  llama_token_to_piece: {
    parameters: ["pointer", "i32", "buffer", "i32", "i32", "bool"],
    result: "i32",
  },

  llama_sampler_chain_init: { parameters: ["u8"], result: "pointer" },
  llama_sampler_chain_add: { parameters: ["pointer", "pointer"], result: "void" },
  llama_sampler_free: { parameters: ["pointer"], result: "void" },
  llama_sampler_sample: { parameters: ["pointer", "pointer", "i32"], result: "i32" },
  llama_sampler_accept: { parameters: ["pointer", "i32"], result: "void" },
  llama_sampler_reset: { parameters: ["pointer"], result: "void" },
  llama_sampler_init_greedy: { parameters: [], result: "pointer" },
  llama_sampler_init_dist: { parameters: ["u32"], result: "pointer" },
  llama_sampler_init_top_k: { parameters: ["i32"], result: "pointer" },
  llama_sampler_init_top_p: { parameters: ["f32", "usize"], result: "pointer" },
  llama_sampler_init_min_p: { parameters: ["f32", "usize"], result: "pointer" },
  llama_sampler_init_temp: { parameters: ["f32"], result: "pointer" },
  llama_sampler_init_penalties: {
    parameters: ["i32", "i32", "f32", "f32", "f32"],
    result: "pointer",
  },
  llama_sampler_init_logit_bias: { parameters: ["i32", "i32", "buffer"], result: "pointer" },
  llama_sampler_init_grammar: { parameters: ["pointer", "buffer", "buffer"], result: "pointer" },
  llama_sampler_init_grammar_lazy_patterns: {
    parameters: ["pointer", "buffer", "buffer", "pointer", "usize", "buffer", "usize"],
    result: "pointer",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** libc, for the abort flag (see `abort_flag.ts`). */
export const LIBC_SYMBOLS = {
  dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;
