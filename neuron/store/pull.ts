/**
 * Downloads an `hf:` model into the model store: resumable, verified, and
 * visible to the store only once complete.
 *
 * Layout: a repo file `{org}/{repo}/…/{name}.gguf` lands at
 * `{storeDir}/{repo}/{name}.gguf` (org and repo subfolders dropped, extension
 * lowercased), so its store id is `{repo}/{name}`. That keeps ids short and
 * predictable and within the two levels the store lists. A file already there
 * from another org's repo of the same name is refused as a conflict unless its
 * size matches the hub's.
 *
 * Each file is written to `{final}.partial`; a later pull resumes it with
 * `Range: bytes=N-` (the existing bytes are hashed again first, so the sha256
 * covers the whole file), restarting from zero when the server does not answer
 * 206 with a matching `Content-Range`. A finished file is checked against the
 * hub's size and sha256 (a mismatch deletes the partial) and only then
 * renamed into place; the parts of a split model are all downloaded before any
 * is renamed, the first part (the model's id) last.
 */

import { errorChain } from "../../core/error_chain.ts";
import { createHash, type Hash } from "node:crypto";
import { parseModelSource } from "../../core/config/model_source.ts";
import type { PulledFile, PullProgress, PullResult } from "../../core/neuron/pull.ts";
import {
  checkHubPath,
  type HfSource,
  type HubConfig,
  HubError,
  openHubFile,
  resolveHfSource,
} from "./hf_source.ts";
import { StoreError, validateId } from "./model_store.ts";

export type PullErrorCode =
  | "invalid_source"
  | "unsafe_path"
  | "conflict"
  | "size_mismatch"
  | "checksum_mismatch"
  | "cancelled";

export class PullError extends Error {
  override name = "PullError";
  constructor(readonly code: PullErrorCode, message: string) {
    super(message);
  }
}

/** One file of a pull: where it comes from and where it lands. */
export interface PlannedFile {
  /** Path inside the hub repo. */
  hubPath: string;
  /** Path relative to the store dir. */
  rel: string;
  /** `{storeDir}/{rel}`. */
  path: string;
  size: number | null;
  sha256: string | null;
}

export interface PullPlan {
  /** Store id the model lands as. */
  id: string;
  repo: string;
  storeDir: string;
  files: PlannedFile[];
}

export interface PullTuning {
  /** Further attempts per file after a dropped connection, stall or hub 5xx/429 (default 3). */
  retries?: number;
  /** First wait before a retry, doubled each time (default 1000 ms). */
  retryDelayMs?: number;
  /** A transfer that receives nothing for this long is dropped and retried (default 60 s). */
  stallTimeoutMs?: number;
  /** Least time between progress callbacks (default 250 ms); the first and last always come. */
  progressIntervalMs?: number;
  now?: () => number;
}

export interface PullOptions extends PullTuning {
  hub: HubConfig;
  /** The store dir pulls land in (`model_dirs[0]`). */
  storeDir: string;
  onProgress?: (p: PullProgress) => void;
  /** Aborting stops the transfer; the partial file stays for the next pull to resume. */
  signal?: AbortSignal;
}

/** Where a repo file lands, relative to the store dir: `{repo}/{name}.gguf`. */
export function storeRelPath(repo: string, hubPath: string): string {
  checkHubPath(hubPath);
  const name = repo.slice(repo.indexOf("/") + 1);
  const base = hubPath.slice(hubPath.lastIndexOf("/") + 1);
  if (!/\.gguf$/i.test(base)) {
    throw new PullError("unsafe_path", `${repo}/${hubPath} is not a .gguf file`);
  }
  const rel = `${name}/${base.replace(/\.gguf$/i, ".gguf")}`;
  try {
    validateId(rel.slice(0, -".gguf".length));
  } catch (e) {
    if (e instanceof StoreError) {
      throw new PullError("unsafe_path", `${repo}/${hubPath} cannot be stored: ${e.message}`);
    }
    throw e;
  }
  return rel;
}

function toHfSource(source: string | HfSource): HfSource {
  if (typeof source !== "string") return source;
  let parsed;
  try {
    parsed = parseModelSource(source);
  } catch (e) {
    throw new PullError(
      "invalid_source",
      `source ${JSON.stringify(source)}: ${(e as Error).message}`,
    );
  }
  if (parsed.kind !== "hf") {
    throw new PullError(
      "invalid_source",
      `source ${JSON.stringify(source)} is not an hf: reference`,
    );
  }
  return parsed;
}

/** Asks the hub which files a source names and decides where each lands. */
export async function planPull(
  hub: HubConfig,
  source: string | HfSource,
  storeDir: string,
  signal?: AbortSignal,
): Promise<PullPlan> {
  const hf = toHfSource(source);
  let resolved;
  try {
    resolved = await resolveHfSource(hub, hf, signal);
  } catch (e) {
    if (signal?.aborted) throw cancelled();
    throw e;
  }
  const dir = storeDir.replace(/\/+$/, "") || "/";
  const files = resolved.files.map((f): PlannedFile => {
    const rel = storeRelPath(resolved.repo, f.path);
    return { hubPath: f.path, rel, path: `${dir}/${rel}`, size: f.size, sha256: f.sha256 };
  });
  return { id: files[0].rel.slice(0, -".gguf".length), repo: resolved.repo, storeDir: dir, files };
}

/** Plans and runs a pull. */
export async function pullFromHub(
  source: string | HfSource,
  opts: PullOptions,
): Promise<PullResult> {
  const plan = await planPull(opts.hub, source, opts.storeDir, opts.signal);
  return await executePull(plan, opts);
}

/** Creates the model's folder and makes sure it really lies inside the store dir. */
async function modelDir(plan: PullPlan): Promise<string> {
  const sub = plan.files[0].rel.slice(0, plan.files[0].rel.lastIndexOf("/"));
  await Deno.mkdir(`${plan.storeDir}/${sub}`, { recursive: true });
  const root = await Deno.realPath(plan.storeDir);
  const real = await Deno.realPath(`${plan.storeDir}/${sub}`);
  if (!real.startsWith(root + "/")) {
    throw new PullError("unsafe_path", `${plan.storeDir}/${sub} resolves outside the model store`);
  }
  return real;
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Runs a planned pull: files already in place are checked by size, the rest downloaded. */
export async function executePull(plan: PullPlan, opts: PullOptions): Promise<PullResult> {
  const dir = await modelDir(plan);
  const target = (f: PlannedFile) => `${dir}/${f.rel.slice(f.rel.lastIndexOf("/") + 1)}`;
  const done = new Map<PlannedFile, PulledFile>();
  for (const f of plan.files) {
    const st = await statOrNull(target(f));
    if (!st) continue;
    if (!st.isFile || (f.size !== null && st.size !== f.size)) {
      throw new PullError(
        "conflict",
        `${f.rel} is already in the store with ${st.size} bytes but ${plan.repo}/${f.hubPath} ` +
          `has ${f.size}; remove it or move it aside to pull this one`,
      );
    }
    done.set(f, { path_relative: f.rel, size_bytes: st.size, sha256: f.sha256 });
  }
  const known = plan.files.every((f) => f.size !== null);
  const total = known ? plan.files.reduce((n, f) => n + f.size!, 0) : null;
  const meter = new ProgressMeter(plan.id, plan.files[0].rel, total, opts);
  meter.addDone([...done.values()].reduce((n, f) => n + f.size_bytes, 0));
  meter.emit(true);
  const already = done.size === plan.files.length;
  const partials: Array<[string, string]> = [];
  for (const f of plan.files) {
    if (done.has(f)) continue;
    const partial = `${target(f)}.partial`;
    meter.startFile(f.rel);
    const got = await downloadFile(plan.repo, f, partial, meter, opts);
    meter.addDone(got.size);
    done.set(f, { path_relative: f.rel, size_bytes: got.size, sha256: got.sha256 });
    partials.push([partial, target(f)]);
  }
  // The first part is what the store lists; it lands last so a listed model is complete.
  for (const [partial, final] of partials.reverse()) await Deno.rename(partial, final);
  meter.emit(true);
  const files = plan.files.map((f) => done.get(f)!);
  return {
    model: plan.id,
    path_relative: files[0].path_relative,
    size_bytes: files.reduce((n, f) => n + f.size_bytes, 0),
    sha256: files.length === 1 ? files[0].sha256 : null,
    files,
    already,
  };
}

/** Bytes done across a pull's files and the recent transfer rate, reported at a bounded pace. */
class ProgressMeter {
  #done = 0;
  /** High-water mark of the current file, so that a restart never reports fewer bytes. */
  #current = 0;
  #file = "";
  #transferred = 0;
  #samples: Array<[number, number]> = [];
  #lastEmit = -Infinity;
  #lastBytes = -1;
  readonly #now: () => number;

  constructor(
    readonly model: string,
    firstFile: string,
    readonly total: number | null,
    readonly opts: Pick<PullOptions, "onProgress" | "progressIntervalMs" | "now">,
  ) {
    this.#now = opts.now ?? (() => performance.now());
    this.#file = firstFile;
  }

  startFile(rel: string): void {
    this.#file = rel;
    this.#current = 0;
  }

  addDone(bytes: number): void {
    this.#done += bytes;
    this.#current = 0;
  }

  /** The current file now has `bytes` confirmed bytes on disk. */
  fileBytes(bytes: number): void {
    if (bytes > this.#current) this.#current = bytes;
    this.emit(false);
  }

  /** Bytes that came over the network (for the rate). */
  received(bytes: number): void {
    this.#transferred += bytes;
    const t = this.#now();
    this.#samples.push([t, this.#transferred]);
    while (this.#samples.length > 2 && t - this.#samples[0][0] > 3000) this.#samples.shift();
  }

  rate(): number {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (!first || last[0] <= first[0]) return 0;
    return Math.round(((last[1] - first[1]) * 1000) / (last[0] - first[0]));
  }

  emit(force: boolean): void {
    const on = this.opts.onProgress;
    if (!on) return;
    const t = this.#now();
    const bytes = this.#done + this.#current;
    if (!force && t - this.#lastEmit < (this.opts.progressIntervalMs ?? 250)) return;
    if (bytes === this.#lastBytes && !force) return;
    this.#lastEmit = t;
    this.#lastBytes = bytes;
    on({ model: this.model, file: this.#file, bytes, total: this.total, rate: this.rate() });
  }
}

interface Downloaded {
  size: number;
  sha256: string;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function cancelled(): PullError {
  return new PullError(
    "cancelled",
    "pull cancelled; the partial download is kept and the next pull resumes it",
  );
}

/** Downloads one file into its partial, retrying transient failures by resuming. */
async function downloadFile(
  repo: string,
  file: PlannedFile,
  partial: string,
  meter: ProgressMeter,
  opts: PullOptions,
): Promise<Downloaded> {
  const retries = opts.retries ?? 3;
  for (let attempt = 0;; attempt++) {
    try {
      return await transferOnce(repo, file, partial, meter, opts);
    } catch (e) {
      if (opts.signal?.aborted) throw cancelled();
      if (!(e instanceof HubError && e.transient) || attempt >= retries) throw e;
      try {
        await sleep((opts.retryDelayMs ?? 1000) * 2 ** attempt, opts.signal);
      } catch {
        throw cancelled();
      }
    }
  }
}

/** Feeds the first `length` bytes of a file to a hash. */
async function hashFile(path: string, length: number, hash: Hash, signal?: AbortSignal) {
  const f = await Deno.open(path, { read: true });
  try {
    const buf = new Uint8Array(4 << 20);
    let left = length;
    while (left > 0) {
      if (signal?.aborted) throw cancelled();
      const n = await f.read(buf.subarray(0, Math.min(buf.length, left)));
      if (n === null) throw new Error(`${path} shrank while being read`);
      hash.update(buf.subarray(0, n));
      left -= n;
    }
  } finally {
    f.close();
  }
}

async function writeAll(f: Deno.FsFile, chunk: Uint8Array): Promise<void> {
  for (let off = 0; off < chunk.length;) off += await f.write(chunk.subarray(off));
}

/** The start offset of a 206 answer (`Content-Range: bytes START-END/TOTAL`), or null. */
function rangeStart(res: Response): number | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
  return m ? Number(m[1]) : null;
}

/**
 * One attempt: resume (or start) the partial, stream the body to disk while hashing, then
 * verify. Throws a transient HubError when the connection drops or stalls (the partial
 * stays), a PullError on a size or checksum mismatch (the partial is removed).
 */
async function transferOnce(
  repo: string,
  file: PlannedFile,
  partial: string,
  meter: ProgressMeter,
  opts: PullOptions,
): Promise<Downloaded> {
  const { signal } = opts;
  let offset = (await statOrNull(partial))?.size ?? 0;
  if (file.size !== null && offset > file.size) {
    await removeIfPresent(partial);
    offset = 0;
  }
  let hash = createHash("sha256");
  if (offset > 0) await hashFile(partial, offset, hash, signal);
  let expectedSize = file.size;
  let expectedSha = file.sha256;
  if (expectedSize !== null && offset === expectedSize) {
    return await verify(file, partial, offset, hash.digest("hex"), expectedSize, expectedSha);
  }

  const stallMs = opts.stallTimeoutMs ?? 60_000;
  const stall = new AbortController();
  const both = signal ? AbortSignal.any([signal, stall.signal]) : stall.signal;
  let timer = setTimeout(() => stall.abort(), stallMs);
  const rearm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(), stallMs);
  };
  let out: Deno.FsFile | null = null;
  let received = 0;
  try {
    let res: Response;
    for (;;) {
      const opened = await openHubFile(opts.hub, repo, file.hubPath, { offset, signal: both });
      res = opened.response;
      expectedSize ??= opened.linkedSize;
      expectedSha ??= opened.linkedSha256;
      if (offset > 0 && res.status === 206 && rangeStart(res) === offset) break;
      if (res.status === 200) {
        offset = 0; // the whole file again (the server ignored Range, or none was sent)
        hash = createHash("sha256");
        break;
      }
      await res.body?.cancel();
      if (offset === 0) {
        throw new HubError(
          "hub_error",
          `downloading ${repo}/${file.hubPath}: the hub answered ${res.status} to a whole-file request`,
          res.status,
        );
      }
      // 416 or a 206 for the wrong range: the partial does not fit this file; start over.
      await removeIfPresent(partial);
      offset = 0;
      hash = createHash("sha256");
    }
    rearm();
    const declared = Number(res.headers.get("content-length") ?? NaN);
    out = await Deno.open(partial, {
      write: true,
      create: true,
      append: offset > 0,
      truncate: offset === 0,
    });
    meter.fileBytes(offset);
    if (res.body) {
      for await (const chunk of res.body) {
        rearm();
        await writeAll(out, chunk);
        hash.update(chunk);
        received += chunk.length;
        meter.received(chunk.length);
        meter.fileBytes(offset + received);
      }
    }
    if (Number.isSafeInteger(declared) && received < declared) {
      throw new HubError(
        "network",
        `downloading ${repo}/${file.hubPath}: the transfer ended early`,
      );
    }
    await out.syncData();
  } catch (e) {
    if (signal?.aborted) throw cancelled();
    if (stall.signal.aborted) {
      throw new HubError(
        "network",
        `downloading ${repo}/${file.hubPath}: no data for ${stallMs} ms`,
      );
    }
    if (e instanceof HubError || e instanceof PullError) throw e;
    // A body read that fails is a dropped connection; anything else (disk full, permissions)
    // is not worth retrying.
    if (e instanceof TypeError) {
      throw new HubError("network", `downloading ${repo}/${file.hubPath}: ${errorChain(e)}`);
    }
    throw e;
  } finally {
    clearTimeout(timer);
    out?.close();
  }
  const size = offset + received;
  if (expectedSize !== null && size < expectedSize) {
    throw new HubError(
      "network",
      `downloading ${repo}/${file.hubPath}: the transfer ended at ${size} of ${expectedSize} bytes`,
    );
  }
  return await verify(file, partial, size, hash.digest("hex"), expectedSize, expectedSha);
}

/** Checks a finished partial against the hub's figures; a mismatch removes it. */
async function verify(
  file: PlannedFile,
  partial: string,
  size: number,
  sha256: string,
  expectedSize: number | null,
  expectedSha: string | null,
): Promise<Downloaded> {
  if (expectedSize !== null && size !== expectedSize) {
    await removeIfPresent(partial);
    throw new PullError(
      "size_mismatch",
      `${file.rel}: downloaded ${size} bytes, expected ${expectedSize}; the partial download was removed`,
    );
  }
  if (expectedSha !== null && sha256 !== expectedSha) {
    await removeIfPresent(partial);
    throw new PullError(
      "checksum_mismatch",
      `${file.rel}: sha256 ${sha256} does not match the expected ${expectedSha}; ` +
        "the partial download was removed",
    );
  }
  return { size, sha256 };
}

interface SharedPull {
  promise: Promise<PullResult>;
  listeners: Set<(p: PullProgress) => void>;
  controller: AbortController;
}

/**
 * Single flight per destination: concurrent pulls of the same model share one download
 * (two writers on one partial would corrupt it) and each gets the progress. The download
 * is cancelled only when every caller has gone.
 */
export class PullRegistry {
  readonly #inflight = new Map<string, SharedPull>();

  /** The store ids being pulled now. */
  active(): string[] {
    return [...this.#inflight.keys()];
  }

  async pull(source: string | HfSource, opts: PullOptions): Promise<PullResult> {
    const plan = await planPull(opts.hub, source, opts.storeDir, opts.signal);
    const key = plan.files[0].path;
    let shared = this.#inflight.get(key);
    // A download whose callers all left is winding down: let it release the partial first.
    while (shared?.controller.signal.aborted) {
      await shared.promise.catch(() => {});
      shared = this.#inflight.get(key);
    }
    if (!shared) {
      const controller = new AbortController();
      const listeners = new Set<(p: PullProgress) => void>();
      const promise = executePull(plan, {
        ...opts,
        signal: controller.signal,
        onProgress: (p) => listeners.forEach((l) => l(p)),
      });
      const entry: SharedPull = { promise, listeners, controller };
      shared = entry;
      this.#inflight.set(key, entry);
      const forget = () => {
        if (this.#inflight.get(key) === entry) this.#inflight.delete(key);
      };
      promise.then(forget, forget);
    }
    const mine = shared;
    const listener = opts.onProgress ?? (() => {});
    mine.listeners.add(listener);
    try {
      if (!opts.signal) return await mine.promise;
      if (opts.signal.aborted) throw cancelled();
      const signal = opts.signal;
      let onAbort = () => {};
      const left = new Promise<never>((_, reject) => {
        onAbort = () => reject(cancelled());
        signal.addEventListener("abort", onAbort, { once: true });
      });
      try {
        return await Promise.race([mine.promise, left]);
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
    } finally {
      mine.listeners.delete(listener);
      if (mine.listeners.size === 0) mine.controller.abort();
    }
  }
}
