/**
 * A local stand-in for the Hugging Face hub, laid out like the real one, for
 * pull tests without network:
 *
 * - `GET /api/models/{org}/{repo}/tree/main[/{folder}]?recursive=…` lists files as
 *   `{type, oid, size, path, lfs?: {oid, size, pointerSize}}` (folder %2F-encoded or not),
 *   paged with `Link: <…>; rel="next"` when `pageSize` is set.
 * - `GET|HEAD /{org}/{repo}/resolve/main/{path}`: LFS files answer 302 to a second
 *   server (the "CDN", another origin) with `X-Linked-Size` / `X-Linked-Etag`; other files
 *   are served directly with a git-sha1 `ETag`.
 * - The CDN serves bytes with `Range` support (206 + `Content-Range`, 416 past the end).
 *
 * Knobs: require a token (hub endpoints only, as signed CDN URLs need none), cut the next
 * transfer of a file after N bytes, stall one, serve wrong bytes, ignore `Range`. Every
 * request is recorded in `requests`.
 */

import { createHash } from "node:crypto";

export interface FakeFile {
  /** Path inside the repo, served and listed verbatim (tests may list hostile paths). */
  path: string;
  data: Uint8Array<ArrayBuffer>;
  /** Stored through LFS (redirect to the CDN, sha256 listed); default true for .gguf files. */
  lfs?: boolean;
}

export interface FakeHubOptions {
  /** `org/repo` → files. */
  repos: Record<string, FakeFile[]>;
  /** When set, hub endpoints answer 401 unless `Authorization: Bearer <token>` is sent. */
  token?: string;
  /** Entries per tree page; unset = one page. */
  pageSize?: number;
}

export interface SeenRequest {
  server: "hub" | "cdn";
  method: string;
  /** Decoded path plus query. */
  url: string;
  range: string | null;
  authorization: string | null;
}

interface Stored extends FakeFile {
  repo: string;
  sha256: string;
  gitOid: string;
  isLfs: boolean;
}

function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function gitBlobOid(data: Uint8Array): string {
  return createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");
}

/** `n` random bytes (getRandomValues fills at most 64 KiB per call). */
export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) {
    crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  }
  return out;
}

export { sha256Hex };

export class FakeHub {
  readonly requests: SeenRequest[] = [];
  /** Answer 200 with the whole file to every Range request. */
  ignoreRange = false;
  readonly #files: Stored[] = [];
  readonly #opts: FakeHubOptions;
  readonly #cuts = new Map<string, number>();
  readonly #stalls = new Map<string, number>();
  readonly #corrupt = new Set<string>();
  readonly #stalled = new Set<ReadableStreamDefaultController<Uint8Array>>();
  #hub!: Deno.HttpServer<Deno.NetAddr>;
  #cdn!: Deno.HttpServer<Deno.NetAddr>;

  private constructor(opts: FakeHubOptions) {
    this.#opts = opts;
    for (const [repo, files] of Object.entries(opts.repos)) {
      for (const f of files) this.#add(repo, f);
    }
  }

  static start(opts: FakeHubOptions): FakeHub {
    const hub = new FakeHub(opts);
    const quiet = { hostname: "127.0.0.1", port: 0, onListen() {} };
    hub.#hub = Deno.serve(quiet, (req) => hub.#serveHub(req));
    hub.#cdn = Deno.serve(quiet, (req) => hub.#serveCdn(req));
    return hub;
  }

  /** Base URL of the hub (what HF_ENDPOINT would be). */
  get url(): string {
    return `http://127.0.0.1:${this.#hub.addr.port}`;
  }

  /** Base URL of the CDN the hub redirects LFS downloads to. */
  get cdnUrl(): string {
    return `http://127.0.0.1:${this.#cdn.addr.port}`;
  }

  /** The sha256 of a stored file. */
  sha256(repo: string, path: string): string {
    return this.#find(repo, path)!.sha256;
  }

  /** Adds or replaces a file. */
  put(repo: string, file: FakeFile): void {
    const i = this.#files.findIndex((f) => f.repo === repo && f.path === file.path);
    if (i >= 0) this.#files.splice(i, 1);
    this.#add(repo, file);
  }

  /** The next transfer of this file declares its full length but ends after `bytes` bytes. */
  cutOnce(repo: string, path: string, bytes: number): void {
    this.#cuts.set(`${repo}/${path}`, bytes);
  }

  /** The next transfer of this file sends `bytes` bytes, then nothing, without closing. */
  stallOnce(repo: string, path: string, bytes: number): void {
    this.#stalls.set(`${repo}/${path}`, bytes);
  }

  /** Serve different bytes of the same length; the listing keeps the true sha256. */
  corrupt(repo: string, path: string): void {
    this.#corrupt.add(`${repo}/${path}`);
  }

  /** Stalled transfers whose client has not gone away yet. */
  stalledCount(): number {
    return this.#stalled.size;
  }

  /** Requests whose path contains `fragment`. */
  seen(fragment: string): SeenRequest[] {
    return this.requests.filter((r) => r.url.includes(fragment));
  }

  async close(): Promise<void> {
    for (const c of this.#stalled) {
      try {
        c.close();
      } catch {
        // the client already went away
      }
    }
    await Promise.all([this.#hub.shutdown(), this.#cdn.shutdown()]);
  }

  #add(repo: string, f: FakeFile): void {
    this.#files.push({
      ...f,
      repo,
      sha256: sha256Hex(f.data),
      gitOid: gitBlobOid(f.data),
      isLfs: f.lfs ?? f.path.endsWith(".gguf"),
    });
  }

  #find(repo: string, path: string): Stored | undefined {
    return this.#files.find((f) => f.repo === repo && f.path === path);
  }

  #record(server: "hub" | "cdn", req: Request): URL {
    const u = new URL(req.url);
    this.requests.push({
      server,
      method: req.method,
      url: decodeURIComponent(u.pathname) + u.search,
      range: req.headers.get("range"),
      authorization: req.headers.get("authorization"),
    });
    return u;
  }

  #serveHub(req: Request): Response {
    const u = this.#record("hub", req);
    if (this.#opts.token && req.headers.get("authorization") !== `Bearer ${this.#opts.token}`) {
      return Response.json({ error: "Invalid username or password." }, {
        status: 401,
        headers: { "x-error-message": "Invalid credentials in Authorization header" },
      });
    }
    const tree = /^\/api\/models\/([^/]+)\/([^/]+)\/tree\/main(?:\/(.*))?$/.exec(u.pathname);
    if (tree && req.method === "GET") {
      const repo = `${decodeURIComponent(tree[1])}/${decodeURIComponent(tree[2])}`;
      return this.#tree(u, repo, decodeURIComponent(tree[3] ?? ""));
    }
    const resolve = /^\/([^/]+)\/([^/]+)\/resolve\/main\/(.+)$/.exec(u.pathname);
    if (resolve && (req.method === "GET" || req.method === "HEAD")) {
      const repo = `${decodeURIComponent(resolve[1])}/${decodeURIComponent(resolve[2])}`;
      const path = resolve[3].split("/").map(decodeURIComponent).join("/");
      const f = this.#find(repo, path);
      if (!f) {
        return new Response("Entry not found", {
          status: 404,
          headers: { "x-error-code": "EntryNotFound", "x-error-message": "Entry not found" },
        });
      }
      const common = { "x-repo-commit": "0".repeat(40) };
      if (!f.isLfs) {
        return this.#bytes(req, f, { ...common, etag: `"${f.gitOid}"` });
      }
      return new Response(null, {
        status: 302,
        headers: {
          ...common,
          location: `${this.cdnUrl}/lfs/${f.sha256}?X-Amz-Signature=fake`,
          "x-linked-size": String(f.data.length),
          "x-linked-etag": `"${f.sha256}"`,
          etag: `"${f.sha256}"`,
        },
      });
    }
    return Response.json({ error: "Repository not found" }, { status: 404 });
  }

  #tree(u: URL, repo: string, folder: string): Response {
    const files = this.#files.filter((f) => f.repo === repo);
    if (files.length === 0 && !Object.hasOwn(this.#opts.repos, repo)) {
      // The real hub hides whether a repo exists from anonymous callers.
      return Response.json({ error: "Repository not found" }, { status: 401 });
    }
    const recursive = u.searchParams.get("recursive") === "true";
    const prefix = folder ? `${folder}/` : "";
    const entries: unknown[] = [];
    const dirs = new Set<string>();
    for (const f of files) {
      if (!f.path.startsWith(prefix)) continue;
      const rest = f.path.slice(prefix.length);
      const slash = rest.indexOf("/");
      if (slash >= 0) {
        const dir = prefix + rest.slice(0, slash);
        if (!dirs.has(dir)) {
          dirs.add(dir);
          entries.push({ type: "directory", oid: "d".repeat(40), size: 0, path: dir });
        }
        if (!recursive) continue;
      }
      entries.push({
        type: "file",
        oid: f.gitOid,
        size: f.data.length,
        path: f.path,
        ...(f.isLfs ? { lfs: { oid: f.sha256, size: f.data.length, pointerSize: 134 } } : {}),
      });
    }
    const size = this.#opts.pageSize;
    if (!size) return Response.json(entries);
    const cursor = Number(u.searchParams.get("cursor") ?? 0);
    const headers = new Headers();
    if (cursor + size < entries.length) {
      const next = new URL(u);
      next.searchParams.set("cursor", String(cursor + size));
      headers.set("link", `<${next}>; rel="next"`);
    }
    return Response.json(entries.slice(cursor, cursor + size), { headers });
  }

  #serveCdn(req: Request): Response {
    const u = this.#record("cdn", req);
    const m = /^\/lfs\/([0-9a-f]{64})$/.exec(u.pathname);
    const f = m ? this.#files.find((x) => x.sha256 === m[1]) : undefined;
    if (!f || (req.method !== "GET" && req.method !== "HEAD")) {
      return new Response("NoSuchKey", { status: 404 });
    }
    return this.#bytes(req, f, {});
  }

  /** Serves a file's bytes with Range support and the cut/stall/corrupt knobs. */
  #bytes(req: Request, f: Stored, extra: Record<string, string>): Response {
    const key = `${f.repo}/${f.path}`;
    let data = f.data;
    if (this.#corrupt.has(key)) data = data.map((b) => b ^ 0xff);
    const total = data.length;
    const headers = new Headers({ ...extra, "accept-ranges": "bytes" });
    let status = 200;
    let start = 0;
    const range = this.ignoreRange ? null : req.headers.get("range");
    if (range) {
      const r = /^bytes=(\d+)-(\d*)$/.exec(range);
      start = r ? Number(r[1]) : NaN;
      const end = r && r[2] ? Math.min(Number(r[2]), total - 1) : total - 1;
      if (!(start < total) || end < start) {
        headers.set("content-range", `bytes */${total}`);
        return new Response(null, { status: 416, headers });
      }
      status = 206;
      data = data.subarray(start, end + 1);
      headers.set("content-range", `bytes ${start}-${end}/${total}`);
    }
    headers.set("content-length", String(data.length));
    headers.set("content-type", "application/octet-stream");
    if (req.method === "HEAD") return new Response(null, { status, headers });
    const cut = this.#cuts.get(key);
    const stall = this.#stalls.get(key);
    this.#cuts.delete(key);
    this.#stalls.delete(key);
    if (cut === undefined && stall === undefined) return new Response(data, { status, headers });
    const sent = data.subarray(0, cut ?? stall);
    const stalled = this.#stalled;
    let ctrl: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        ctrl = c;
        c.enqueue(sent);
        // Closing short of the declared length drops the connection mid-body.
        if (cut !== undefined) c.close();
        else stalled.add(c);
      },
      cancel() {
        stalled.delete(ctrl); // the client gave up on a stalled transfer
      },
    });
    return new Response(body, { status, headers });
  }
}
