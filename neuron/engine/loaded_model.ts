/**
 * One model resident on a device: weights, a generation context with its
 * scheduler, and optionally an embeddings context. Building it is
 * all-or-nothing: a failed or cancelled load frees whatever it took.
 */

import { LlamaContext } from "../llama/context.ts";
import type { LlamaLibrary } from "../llama/library.ts";
import { LlamaModel } from "../llama/model.ts";
import { Embedder } from "./embedder.ts";
import { TOOL_MARKERS } from "../../core/tools/format.ts";
import { findMarkers } from "./reasoning.ts";
import { DraftModel, DraftVocabError } from "./draft_model.ts";
import { type Emit, Scheduler } from "./scheduler.ts";
import { DEFAULT_DRAFT_MAX, EngineError, type LoadedModelInfo, type LoadOptions } from "./types.ts";

/** llama_token_attr bits for control and user-defined tokens. */
const ATTR_SPECIAL = (1 << 3) | (1 << 4);

export class LoadedModel {
  readonly info: LoadedModelInfo;
  readonly model: LlamaModel;
  readonly scheduler: Scheduler;
  readonly embedder: Embedder | null;
  readonly #ctx: LlamaContext;
  readonly #draft: DraftModel | null;
  /** Split over an RPC device: freed off-thread (a lost server parks the call for good). */
  readonly #remote: boolean;

  private constructor(
    info: LoadedModelInfo,
    model: LlamaModel,
    ctx: LlamaContext,
    scheduler: Scheduler,
    embedder: Embedder | null,
    draft: DraftModel | null,
    remote: boolean,
  ) {
    this.info = info;
    this.model = model;
    this.#ctx = ctx;
    this.scheduler = scheduler;
    this.embedder = embedder;
    this.#draft = draft;
    this.#remote = remote;
  }

  static async load(
    lib: LlamaLibrary,
    key: string,
    path: string,
    opts: LoadOptions,
    device: {
      handle: Deno.PointerValue;
      isGpu: boolean;
      handleOf: (index: number) => Deno.PointerValue;
    },
    hooks: {
      emit: Emit;
      flush: () => void;
      onProgress?: (f: number) => void;
      signal?: AbortSignal;
    },
  ): Promise<LoadedModel> {
    const split = opts.split;
    const model = await LlamaModel.load(lib, path, {
      devices: split ? split.offload.map(device.handleOf) : device.isGpu ? [device.handle] : [],
      gpuLayers: split ? split.gpuLayers : opts.gpuLayers,
      split: split ? { mode: split.mode, tensorSplit: split.tensorSplit } : undefined,
      onProgress: hooks.onProgress,
      signal: hooks.signal,
    });
    let ctx: LlamaContext | undefined;
    let embedder: Embedder | null = null;
    let draftModel: LlamaModel | undefined;
    let draft: DraftModel | null = null;
    try {
      ctx = await LlamaContext.create(lib, model, {
        nCtx: opts.context * opts.slots,
        nBatch: opts.nBatch,
        nSeqMax: opts.slots,
        kvType: opts.kvCacheType,
        nThreads: opts.nThreads,
        nThreadsBatch: opts.nThreadsBatch,
        // n_ubatch stays n_batch (the context's default), on CPU too: a 512-token ubatch
        // prefills ~12% faster than 256 there (`deno task bench engine`), for a compute
        // buffer twice the size.
      });
      if (opts.embeddings) {
        embedder = await Embedder.create(lib, model, {
          context: Math.min(opts.context, 8192),
          nThreads: opts.nThreadsBatch ?? opts.nThreads,
          offThread: split?.remote,
        });
      }
      if (opts.draftPath !== undefined) {
        // Same device, same slots and context: it drafts for every slot the target serves.
        draftModel = await LlamaModel.load(lib, opts.draftPath, {
          devices: device.isGpu ? [device.handle] : [],
          gpuLayers: opts.gpuLayers,
          signal: hooks.signal,
        });
        try {
          draft = await DraftModel.create(lib, draftModel, model, {
            slots: opts.slots,
            context: opts.context,
            nBatch: opts.nBatch,
            nThreads: opts.nThreads,
            nThreadsBatch: opts.nThreadsBatch,
            kvType: opts.kvCacheType,
            minP: opts.draftMinP ?? 0,
          });
        } catch (e) {
          if (e instanceof DraftVocabError) throw new EngineError("bad_request", e.message);
          throw e;
        }
      }
      hooks.signal?.throwIfAborted();
      const speculative = opts.speculative ?? (draft ? "draft" : "off");
      if (speculative === "draft" && !draft) {
        throw new EngineError("bad_request", 'speculative "draft" needs a draft model');
      }
      const vocab = model.vocab;
      const markers = findMarkers((t) => vocab.singleToken(t));
      // Tool-call markers that are control tokens would detokenize to nothing; the
      // tool parser needs to see them.
      vocab.showAsText(
        Object.values(TOOL_MARKERS).map((t) => vocab.singleToken(t)).filter((t) =>
          t !== undefined
        ) as number[],
      );
      const special: string[] = [];
      for (let t = 0; t < vocab.nTokens; t++) {
        if (vocab.attr(t) & ATTR_SPECIAL) special.push(vocab.text(t));
      }
      const bos = lib.llama.llama_vocab_bos(vocab.ptr);
      const eos = lib.llama.llama_vocab_eos(vocab.ptr);
      const info: LoadedModelInfo = {
        key,
        path,
        description: model.info.description,
        sizeBytes: model.info.sizeBytes,
        params: model.info.params,
        nCtxTrain: model.info.nCtxTrain,
        nEmbd: model.info.nEmbd,
        nVocab: vocab.nTokens,
        context: opts.context,
        slots: opts.slots,
        chatTemplate: model.info.chatTemplate,
        markers,
        bosText: bos >= 0 ? vocab.text(bos) : "",
        eosText: eos >= 0 ? vocab.text(eos) : "",
        specialTokens: special,
        embeddings: embedder !== null,
        addBos: vocab.addBos,
      };
      const scheduler = new Scheduler(
        lib,
        model,
        ctx,
        {
          slots: opts.slots,
          contextPerSlot: opts.context,
          maxQueue: opts.maxQueue,
          markers,
          speculative,
          draftMax: opts.draftMax ?? DEFAULT_DRAFT_MAX,
          draft,
          offThread: split?.remote ?? false,
        },
        hooks.emit,
        hooks.flush,
      );
      return new LoadedModel(info, model, ctx, scheduler, embedder, draft, split?.remote ?? false);
    } catch (e) {
      await embedder?.close();
      draft?.free();
      draftModel?.free();
      ctx?.free();
      model.free();
      throw e;
    }
  }

  /** Cancels what is running, then frees contexts and weights. */
  async unload(): Promise<void> {
    await this.scheduler.close();
    await this.embedder?.close();
    this.#draft?.free();
    this.#draft?.model.free();
    if (this.#remote) {
      // A server lost while the model sat idle is found only here: the engine then abandons
      // the model (its unload is done) and this worker keeps serving the others.
      await this.#ctx.freeOffThread();
      await this.model.freeOffThread();
      return;
    }
    this.#ctx.free();
    this.model.free();
  }
}
