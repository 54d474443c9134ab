/**
 * The GGUF files a neuron may load, under its configured `model_dirs`.
 *
 * Models are addressed by id: the file's path relative to its store
 * directory, without `.gguf`. An id can never name a file outside the
 * store: ids with `..`, absolute paths or backslashes are refused, and the
 * resolved real path (symlinks followed) must lie inside the directory.
 * Listing follows the same rule: a symlink whose target lies outside its store
 * directory is not listed (its size and header are not the store's to show);
 * one that stays inside is listed like the file it points to.
 */

import { type GgufHeader, readGgufHeader } from "./gguf_header.ts";
import { type ModelSummary, summarize } from "./summary.ts";

export interface StoreEntry {
  id: string;
  path: string;
  dir: string;
  sizeBytes: number;
  mtimeMs: number;
}

export class StoreError extends Error {
  override name = "StoreError";
  constructor(readonly code: "invalid_id" | "not_found", message: string) {
    super(message);
  }
}

const ID = /^[A-Za-z0-9._+-]+(\/[A-Za-z0-9._+-]+)*$/;
/** Partial downloads and extra split parts are not models of their own. */
const SKIP = /\.partial$|-0000[2-9]-of-\d{5}\.gguf$|-000[1-9]\d-of-\d{5}\.gguf$/;

export function validateId(id: string): void {
  if (!ID.test(id) || id.split("/").some((s) => s === "." || s === "..")) {
    throw new StoreError(
      "invalid_id",
      `model id ${JSON.stringify(id)} is not a store path (letters, digits, . _ + - and /, no ..)`,
    );
  }
}

export class ModelStore {
  readonly dirs: string[];
  #summaries = new Map<string, { key: string; summary: ModelSummary }>();

  constructor(dirs: string[]) {
    this.dirs = dirs;
  }

  /** Every .gguf under the store dirs (two levels deep), first dir wins on duplicate ids. */
  async list(): Promise<StoreEntry[]> {
    const out = new Map<string, StoreEntry>();
    for (const dir of this.dirs) {
      let root: string;
      try {
        root = await Deno.realPath(dir);
      } catch {
        continue; // a missing store dir lists nothing; pulls create it
      }
      for await (const e of walk(dir, root, "", 2)) {
        if (!out.has(e.id)) out.set(e.id, e);
      }
    }
    return [...out.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** The real path of a model id, or a StoreError. */
  async resolve(id: string): Promise<StoreEntry> {
    validateId(id);
    const rel = id.endsWith(".gguf") ? id : `${id}.gguf`;
    for (const dir of this.dirs) {
      let real: string;
      let root: string;
      try {
        root = await Deno.realPath(dir);
        real = await Deno.realPath(`${dir}/${rel}`);
      } catch {
        continue;
      }
      if (!real.startsWith(root + "/")) {
        throw new StoreError("invalid_id", `model ${id} resolves outside the model store`);
      }
      const st = await Deno.stat(real);
      if (!st.isFile) continue;
      return {
        id: id.replace(/\.gguf$/, ""),
        path: real,
        dir: root,
        sizeBytes: st.size,
        mtimeMs: st.mtime?.getTime() ?? 0,
      };
    }
    throw new StoreError(
      "not_found",
      `model ${id} is not in the model store (${this.dirs.join(", ")})`,
    );
  }

  /** Header facts about a file, cached by path, size and mtime. */
  async summary(e: StoreEntry): Promise<ModelSummary> {
    const key = `${e.sizeBytes}:${e.mtimeMs}`;
    const hit = this.#summaries.get(e.path);
    if (hit?.key === key) return hit.summary;
    const header: GgufHeader = await readGgufHeader(e.path);
    const summary = summarize(header, e.sizeBytes);
    this.#summaries.set(e.path, { key, summary });
    return summary;
  }
}

/** `realRoot`: the store dir with symlinks resolved, which every listed file must lie in. */
async function* walk(
  root: string,
  realRoot: string,
  rel: string,
  depth: number,
): AsyncGenerator<StoreEntry> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(rel ? `${root}/${rel}` : root));
  } catch {
    return; // a missing store dir lists nothing; pulls create it
  }
  for (const ent of entries) {
    const relPath = rel ? `${rel}/${ent.name}` : ent.name;
    const full = `${root}/${relPath}`;
    if (ent.isDirectory && depth > 1) {
      yield* walk(root, realRoot, relPath, depth - 1);
    } else if (
      (ent.isFile || ent.isSymlink) && ent.name.endsWith(".gguf") && !SKIP.test(ent.name)
    ) {
      const id = relPath.slice(0, -".gguf".length);
      if (!ID.test(id)) continue;
      let st: Deno.FileInfo;
      try {
        if (ent.isSymlink && !(await Deno.realPath(full)).startsWith(realRoot + "/")) continue;
        st = await Deno.stat(full);
      } catch {
        continue; // dangling symlink
      }
      if (!st.isFile) continue;
      yield { id, path: full, dir: root, sizeBytes: st.size, mtimeMs: st.mtime?.getTime() ?? 0 };
    }
  }
}
