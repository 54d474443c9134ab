/**
 * The Hugging Face hub side of a pull: which files an `hf:` source names,
 * their size and sha256, and opening one for download.
 *
 * What the hub offers and what this relies on (as huggingface_hub does):
 * - `GET {endpoint}/api/models/{org}/{repo}/tree/main[/{folder}]?recursive=…`
 *   lists files as `{type, path, size, oid, lfs?: {oid, size}}`, where
 *   `lfs.oid` is the file's sha256 and `path` is relative to the repo root.
 *   Pages are chained with a `Link: <…>; rel="next"` header. (`/api/models/{repo}`
 *   `siblings` has names only, no sizes, and is incomplete past ~1000 files,
 *   so it is not used.)
 * - `GET {endpoint}/{org}/{repo}/resolve/main/{path}` answers LFS files with a
 *   302 to a signed CDN URL carrying `X-Linked-Size` and `X-Linked-Etag`
 *   (the sha256 of an LFS file); small files come back directly (200), their
 *   `ETag` a git sha1. A renamed repo answers a relative 307. The CDN honours
 *   `Range`.
 * - A missing repo and a private/gated one without a token both answer 401.
 *
 * The token goes only to the endpoint's own origin, never to a CDN that a
 * redirect points at (the signed URL is the credential there).
 */

import { errorChain } from "../../core/error_chain.ts";
import { hasQuantTag } from "../../core/config/model_source.ts";
import { z } from "zod";
import type { ModelSource } from "../../core/config/model_source.ts";

export const DEFAULT_HF_ENDPOINT = "https://huggingface.co";
const REVISION = "main";
const MAX_REDIRECTS = 5;
const MAX_PAGES = 1000;

export interface HubConfig {
  /** Base URL of the hub (HF_ENDPOINT), without a trailing slash. */
  endpoint: string;
  /** Sent as `Authorization: Bearer` to the endpoint (HF_TOKEN). */
  token?: string;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
}

/** `HF_ENDPOINT` (default huggingface.co) and `HF_TOKEN` from an environment lookup. */
export function hubConfigFromEnv(get: (name: string) => string | undefined): HubConfig {
  const raw = get("HF_ENDPOINT")?.trim() || DEFAULT_HF_ENDPOINT;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new HubError("invalid_config", `HF_ENDPOINT ${JSON.stringify(raw)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new HubError("invalid_config", `HF_ENDPOINT ${JSON.stringify(raw)} is not http(s)`);
  }
  const token = get("HF_TOKEN")?.trim();
  return { endpoint: raw.replace(/\/+$/, ""), token: token || undefined };
}

export type HubErrorCode =
  | "invalid_config"
  /** Repo, revision or file does not exist. */
  | "not_found"
  /** 401: missing repo, or private/gated without a (valid) token. */
  | "unauthorized"
  /** 403: a gated repo whose terms the token's account has not accepted. */
  | "forbidden"
  /** The quantisation matches several files. */
  | "ambiguous"
  /** The hub sent something unusable (unsafe paths, bad JSON, incomplete split). */
  | "bad_listing"
  /** Any other non-2xx answer; `hubStatus` says which. */
  | "hub_error"
  /** The connection failed or dropped. */
  | "network";

export class HubError extends Error {
  override name = "HubError";
  constructor(
    readonly code: HubErrorCode,
    message: string,
    /** The hub's HTTP status, when it answered. */
    readonly hubStatus: number | null = null,
  ) {
    super(message);
  }

  /** Worth another try: a dropped connection, rate limiting or a hub-side 5xx. */
  get transient(): boolean {
    return this.code === "network" ||
      (this.hubStatus !== null && (this.hubStatus === 429 || this.hubStatus >= 500));
  }
}

export type HfSource = Extract<ModelSource, { kind: "hf" }>;

/** One file to download, as the hub describes it. */
export interface HubFile {
  /** Path inside the repo. */
  path: string;
  /** Bytes, when the listing says. */
  size: number | null;
  /** Lowercase hex sha256 (LFS files only), when the listing says. */
  sha256: string | null;
}

export interface ResolvedSource {
  /** `org/repo`. */
  repo: string;
  /** One file, or every part of a split GGUF in order. */
  files: HubFile[];
}

const TreeEntrySchema = z.object({
  type: z.string(),
  path: z.string(),
  size: z.number().int().nonnegative().optional(),
  lfs: z.object({ oid: z.string(), size: z.number().int().nonnegative() }).nullish(),
});
export type TreeEntry = z.infer<typeof TreeEntrySchema>;
const TreePageSchema = z.array(TreeEntrySchema);

const SHA256 = /^[0-9a-f]{64}$/;
const SPLIT = /-(\d{5})-of-(\d{5})\.gguf$/i;
/** Characters a repo path may use; the same set the store allows in ids. */
const SEGMENT = /^[A-Za-z0-9._+-]+$/;

/**
 * Refuses a repo path from the hub that could leave the store or the repo:
 * absolute, `.`/`..`, backslashes, empty segments, odd characters.
 */
export function checkHubPath(path: string): void {
  const segments = path.split("/");
  const bad = path.length === 0 || path.length > 1000 || path.startsWith("/") ||
    segments.some((s) => !SEGMENT.test(s) || s === "." || s === "..");
  if (bad) {
    throw new HubError(
      "bad_listing",
      `the hub listed an unsafe file path ${
        JSON.stringify(path)
      } (letters, digits, . _ + - and /, no ..)`,
    );
  }
}

function repoParts(repo: string): [string, string] {
  const [org, name] = repo.split("/");
  return [org, name];
}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** `{endpoint}/{org}/{repo}/resolve/main/{path}`. */
export function resolveUrl(hub: HubConfig, repo: string, path: string): string {
  const [org, name] = repoParts(repo);
  return `${hub.endpoint}/${encodeURIComponent(org)}/${
    encodeURIComponent(name)
  }/resolve/${REVISION}/${encodePath(path)}`;
}

/** `{endpoint}/api/models/{org}/{repo}/tree/main[/{folder}]?recursive=…`. */
export function treeUrl(hub: HubConfig, repo: string, folder: string, recursive: boolean): string {
  const [org, name] = repoParts(repo);
  // huggingface_hub sends the folder as one %2F-encoded segment; the hub accepts that form.
  const tail = folder ? `/${encodeURIComponent(folder)}` : "";
  return `${hub.endpoint}/api/models/${encodeURIComponent(org)}/${
    encodeURIComponent(name)
  }/tree/${REVISION}${tail}?recursive=${recursive}`;
}

function authHeaders(hub: HubConfig, url: string): Headers {
  const h = new Headers();
  if (hub.token && new URL(url).origin === new URL(hub.endpoint).origin) {
    h.set("authorization", `Bearer ${hub.token}`);
  }
  return h;
}

async function hubFailure(res: Response, what: string, hub: HubConfig): Promise<HubError> {
  let detail = res.headers.get("x-error-message") ?? "";
  if (!detail) {
    const text = await res.text().catch(() => "");
    try {
      const j = JSON.parse(text);
      if (typeof j?.error === "string") detail = j.error;
    } catch {
      detail = text.slice(0, 200);
    }
  } else {
    await res.body?.cancel();
  }
  const tail = detail ? ` (${detail.trim()})` : "";
  switch (res.status) {
    case 401:
      return new HubError(
        "unauthorized",
        `${what}: the hub answered 401: the repo does not exist, or it is private or gated and ` +
          (hub.token ? "HF_TOKEN was refused" : "HF_TOKEN is not set") + tail,
        401,
      );
    case 403:
      return new HubError(
        "forbidden",
        `${what}: the hub answered 403: HF_TOKEN's account has no access (accept the repo's terms on its page)${tail}`,
        403,
      );
    case 404:
      return new HubError("not_found", `${what}: not found on the hub${tail}`, 404);
    default:
      return new HubError(
        "hub_error",
        `${what}: the hub answered ${res.status}${tail}`,
        res.status,
      );
  }
}

async function hubFetch(
  hub: HubConfig,
  url: string,
  init: RequestInit,
  what: string,
): Promise<Response> {
  try {
    return await (hub.fetch ?? fetch)(url, init);
  } catch (e) {
    if (init.signal?.aborted) throw init.signal.reason ?? e;
    throw new HubError("network", `${what}: ${url}: ${errorChain(e)}`);
  }
}

/** Next page from a `Link: <url>; rel="next"` header, kept on the configured endpoint. */
function nextPage(res: Response, current: string, hub: HubConfig): string | null {
  const link = res.headers.get("link");
  if (!link) return null;
  for (const part of link.split(",")) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (!m) continue;
    let next = new URL(m[1], current).toString();
    // Mirrors may hand back huggingface.co links; stay on the mirror (as huggingface_hub does).
    if (hub.endpoint !== DEFAULT_HF_ENDPOINT && next.startsWith(DEFAULT_HF_ENDPOINT + "/")) {
      next = hub.endpoint + next.slice(DEFAULT_HF_ENDPOINT.length);
    }
    return next;
  }
  return null;
}

/** Every entry of a repo folder (all pages). */
export async function listRepoTree(
  hub: HubConfig,
  repo: string,
  opts: { folder?: string; recursive: boolean; signal?: AbortSignal },
): Promise<TreeEntry[]> {
  const what = `listing ${repo}${opts.folder ? `/${opts.folder}` : ""}`;
  const out: TreeEntry[] = [];
  let url: string | null = treeUrl(hub, repo, opts.folder ?? "", opts.recursive);
  for (let page = 0; url !== null; page++) {
    if (page >= MAX_PAGES) {
      throw new HubError("bad_listing", `${what}: more than ${MAX_PAGES} pages`);
    }
    const res: Response = await hubFetch(
      hub,
      url,
      { headers: authHeaders(hub, url), signal: opts.signal },
      what,
    );
    if (!res.ok) throw await hubFailure(res, what, hub);
    let body: unknown;
    try {
      body = await res.json();
    } catch (e) {
      throw new HubError(
        "bad_listing",
        `${what}: the hub's answer is not JSON: ${(e as Error).message}`,
      );
    }
    const parsed = TreePageSchema.safeParse(body);
    if (!parsed.success) {
      throw new HubError(
        "bad_listing",
        `${what}: unexpected listing shape: ${parsed.error.message}`,
      );
    }
    out.push(...parsed.data);
    url = nextPage(res, url, hub);
  }
  return out;
}

function toHubFile(e: TreeEntry): HubFile {
  const lfsSha = e.lfs?.oid.toLowerCase();
  return {
    path: e.path,
    size: e.lfs?.size ?? e.size ?? null,
    sha256: lfsSha && SHA256.test(lfsSha) ? lfsSha : null,
  };
}

/** `model-00001-of-00003.gguf` → its parts in order; null for a one-file model. */
export function splitPartPaths(path: string): string[] | null {
  const m = SPLIT.exec(path);
  if (!m) return null;
  const count = Number(m[2]);
  if (count < 1) return null;
  const stem = path.slice(0, m.index);
  const width = m[2].length;
  return Array.from(
    { length: count },
    (_, i) => `${stem}-${String(i + 1).padStart(width, "0")}-of-${m[2]}.gguf`,
  );
}

/** A split part's model: the path with `-0000N-of-0000M` removed. */
function modelKey(path: string): string {
  return path.replace(SPLIT, ".gguf");
}

/** The models (split parts grouped) among .gguf paths, multimodal projectors left out. */
function ggufModels(paths: string[]): Map<string, string[]> {
  const models = new Map<string, string[]>();
  for (const p of paths) {
    const base = p.slice(p.lastIndexOf("/") + 1);
    if (!/\.gguf$/i.test(base) || /^mmproj/i.test(base)) continue;
    const key = modelKey(p);
    models.set(key, [...(models.get(key) ?? []), p]);
  }
  return models;
}

/**
 * Picks the file(s) of the one model in a repo listing that carries `quant`; throws a
 * HubError listing the candidates when none or several do.
 */
export function selectQuantFiles(paths: string[], quant: string, repo: string): string[] {
  const models = ggufModels(paths);
  const matching = [...models.keys()].filter((k) => hasQuantTag(k, quant));
  const names = (keys: string[]) => keys.map((k) => (models.get(k) ?? [k]).sort()[0]).sort();
  if (matching.length === 0) {
    const available = names([...models.keys()]);
    throw new HubError(
      "not_found",
      `no .gguf file in ${repo} carries the quantisation "${quant}"` +
        (available.length
          ? ` (available: ${available.join(", ")})`
          : " (the repo has no .gguf files)"),
      null,
    );
  }
  if (matching.length > 1) {
    const found = names(matching);
    throw new HubError(
      "ambiguous",
      `quantisation "${quant}" matches ${found.length} models in ${repo}: ${found.join(", ")}; ` +
        `name the file instead, e.g. "hf:${repo}/${found[0]}"`,
    );
  }
  const files = models.get(matching[0])!;
  return completeSplit(files.sort()[0], new Set(paths), repo);
}

/** A model's files: itself, or every part of its split, each of which must be listed. */
function completeSplit(path: string, listed: Set<string>, repo: string): string[] {
  const parts = splitPartPaths(path);
  if (!parts) return [path];
  const missing = parts.filter((p) => !listed.has(p));
  if (missing.length) {
    throw new HubError(
      "bad_listing",
      `${repo} has an incomplete split model: ${missing.join(", ")} not listed`,
    );
  }
  return parts;
}

/** The files an `hf:` source names, with the size and sha256 the hub lists for each. */
export async function resolveHfSource(
  hub: HubConfig,
  source: HfSource,
  signal?: AbortSignal,
): Promise<ResolvedSource> {
  let entries: TreeEntry[];
  let chosen: string[];
  if ("quant" in source) {
    entries = await listRepoTree(hub, source.repo, { recursive: true, signal });
    const files = entries.filter((e) => e.type === "file").map((e) => e.path);
    chosen = selectQuantFiles(files, source.quant, source.repo);
  } else {
    const slash = source.file.lastIndexOf("/");
    const folder = slash >= 0 ? source.file.slice(0, slash) : "";
    entries = await listRepoTree(hub, source.repo, { folder, recursive: false, signal });
    const files = entries.filter((e) => e.type === "file").map((e) => e.path);
    if (!files.includes(source.file)) {
      const available = [...ggufModels(files).values()].map((ps) => ps.sort()[0]).sort();
      throw new HubError(
        "not_found",
        `${source.file} is not in ${source.repo}` +
          (available.length ? ` (.gguf files there: ${available.join(", ")})` : ""),
        404,
      );
    }
    // Naming any part of a split model pulls the whole model.
    const first = splitPartPaths(source.file)?.[0] ?? source.file;
    chosen = completeSplit(first, new Set(files), source.repo);
  }
  const byPath = new Map(entries.map((e) => [e.path, e]));
  return {
    repo: source.repo,
    files: chosen.map((p) => {
      checkHubPath(p);
      return toHubFile(byPath.get(p)!);
    }),
  };
}

export interface OpenedFile {
  /** 200 (whole file) or 206 (from the requested offset); the body is unread. */
  response: Response;
  /** `X-Linked-Size` from the hub's redirect, when it sent one. */
  linkedSize: number | null;
  /** `X-Linked-Etag` (or `ETag`) when it is a sha256. */
  linkedSha256: string | null;
}

function etagSha256(h: Headers): string | null {
  const raw = h.get("x-linked-etag") ?? h.get("etag");
  if (!raw) return null;
  const v = raw.replace(/^W\//, "").replace(/"/g, "").toLowerCase();
  return SHA256.test(v) ? v : null;
}

/**
 * GETs a repo file from `offset` (a `Range` request when > 0), following the hub's redirects
 * by hand so that the token never travels to another origin. A non-2xx answer (other than
 * 416, which the caller handles) becomes a HubError.
 */
export async function openHubFile(
  hub: HubConfig,
  repo: string,
  path: string,
  opts: { offset: number; signal?: AbortSignal },
): Promise<OpenedFile> {
  const what = `downloading ${repo}/${path}`;
  let url = resolveUrl(hub, repo, path);
  let linkedSize: number | null = null;
  let linkedSha256: string | null = null;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers = authHeaders(hub, url);
    // Compressed transfer would break byte offsets and sizes.
    headers.set("accept-encoding", "identity");
    if (opts.offset > 0) headers.set("range", `bytes=${opts.offset}-`);
    const res = await hubFetch(
      hub,
      url,
      { headers, redirect: "manual", signal: opts.signal },
      what,
    );
    const size = Number(res.headers.get("x-linked-size") ?? NaN);
    if (linkedSize === null && Number.isSafeInteger(size) && size >= 0) linkedSize = size;
    linkedSha256 ??= res.headers.has("x-linked-etag") ? etagSha256(res.headers) : null;
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get("location");
      await res.body?.cancel();
      if (!location) {
        throw new HubError("hub_error", `${what}: redirect without a location`, res.status);
      }
      url = new URL(location, url).toString();
      continue;
    }
    if (res.ok || res.status === 416) {
      // A file the hub itself serves (no CDN hop) may carry its sha256 as ETag; a CDN's own
      // ETag is some other digest and is not trusted.
      if (new URL(url).origin === new URL(hub.endpoint).origin) {
        linkedSha256 ??= etagSha256(res.headers);
      }
      return { response: res, linkedSize, linkedSha256 };
    }
    throw await hubFailure(res, what, hub);
  }
  throw new HubError("hub_error", `${what}: more than ${MAX_REDIRECTS} redirects`);
}

export { hasQuantTag };
