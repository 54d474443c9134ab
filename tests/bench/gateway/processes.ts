/**
 * The processes a proxy bench runs: the canned backend, the bare relay, nginx, and finding
 * tools on PATH.
 * (The gateway starts through tests/helpers/processes.ts.)
 */

import type { CannedOptions } from "./canned_backend.ts";

export interface Child {
  url: string;
  pid: number;
  /** What the process wrote to stderr so far. */
  log(): string;
  stop(): Promise<void>;
}

/** An executable on PATH (or in the sbin dirs, where Debian puts nginx), or null. */
export function findExecutable(name: string): string | null {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter(Boolean);
  for (const d of [...dirs, "/usr/sbin", "/usr/local/sbin", "/sbin"]) {
    try {
      const st = Deno.statSync(`${d}/${name}`);
      if (st.isFile && (st.mode ?? 0o111) & 0o111) return `${d}/${name}`;
    } catch {
      // not there
    }
  }
  return null;
}

/** Spawns a command and waits until it prints a line matching `ready` (group 1 = the URL). */
export async function spawnUntil(
  cmd: string,
  args: string[],
  ready: RegExp,
  opts: { timeoutMs?: number; url?: string } = {},
): Promise<Child> {
  const proc = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).spawn();
  const dec = new TextDecoder();
  let stderr = "";
  let seen = "";
  let found: string | undefined;
  let wake: (() => void) | undefined;
  const drain = async (s: ReadableStream<Uint8Array>, isErr: boolean) => {
    for await (const c of s) {
      const text = dec.decode(c, { stream: true });
      if (isErr) stderr += text;
      if (found === undefined) {
        seen += text;
        const m = ready.exec(seen);
        if (m) {
          found = m[1] ?? opts.url ?? "";
          wake?.();
        }
      }
    }
  };
  drain(proc.stdout, false).catch(() => {});
  drain(proc.stderr, true).catch(() => {});
  const status = proc.status;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    new Promise<"ready">((r) => wake = () => r("ready")),
    status.then(() => "exited" as const),
    new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), opts.timeoutMs ?? 30_000)),
  ]);
  clearTimeout(timer);
  if (outcome !== "ready" && found === undefined) {
    try {
      proc.kill("SIGKILL");
    } catch {
      // already gone
    }
    await status;
    throw new Error(`${cmd} ${outcome === "exited" ? "exited" : "did not start"}:\n${stderr}`);
  }
  return {
    url: found!,
    pid: proc.pid,
    log: () => stderr,
    async stop() {
      try {
        proc.kill("SIGTERM");
      } catch {
        // already gone
      }
      await status;
    },
  };
}

/** The canned backend in a process of its own. */
export function startCannedBackend(opts: CannedOptions): Promise<Child> {
  const entry = new URL("./canned_backend.ts", import.meta.url).pathname;
  return spawnUntil(Deno.execPath(), [
    "run",
    "--allow-net",
    entry,
    "--model",
    opts.model,
    "--chunks",
    String(opts.chunks),
    "--delay-ms",
    String(opts.delayMs),
  ], /listening on (http:\/\/\S+)/);
}

/** The bare `Deno.serve` + `fetch` relay (bare_relay.ts) in a process of its own. */
export function startBareRelay(upstream: string): Promise<Child> {
  const entry = new URL("./bare_relay.ts", import.meta.url).pathname;
  return spawnUntil(
    Deno.execPath(),
    ["run", "--allow-net", entry, upstream],
    /listening on (http:\/\/\S+)/,
  );
}

/**
 * nginx.conf for a plain reverse proxy to `upstream`: keep-alive upstream connections, no
 * response buffering (streams pass as they come), no access log — what an operator would
 * run in front of an LLM server.
 */
export function nginxConfig(
  dir: string,
  port: number,
  upstream: string,
  workers: number,
): string {
  const u = new URL(upstream);
  return `daemon off;
master_process ${workers > 1 ? "on" : "off"};
worker_processes ${workers};
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream backend {
    server ${u.host};
    keepalive 256;
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 8m;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
`;
}

/** nginx proxying to `upstream` on a free port; null when nginx is not installed. */
export async function startNginx(
  upstream: string,
  workers: number,
): Promise<(Child & { version: string }) | null> {
  const bin = findExecutable("nginx");
  if (!bin) return null;
  const v = await new Deno.Command(bin, { args: ["-v"], stderr: "piped" }).output();
  const version = new TextDecoder().decode(v.stderr).trim().replace(/^nginx version:\s*/, "");
  const dir = await Deno.makeTempDir({ prefix: "cortex-bench-nginx-" });
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const conf = `${dir}/nginx.conf`;
  await Deno.writeTextFile(conf, nginxConfig(dir, port, upstream, workers));
  const url = `http://127.0.0.1:${port}`;
  const proc = new Deno.Command(bin, {
    args: ["-p", dir, "-e", `${dir}/error.log`, "-c", conf],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = proc.stderr.pipeThrough(new TextDecoderStream());
  let log = "";
  (async () => {
    for await (const t of stderr) log += t;
  })().catch(() => {});
  // nginx prints nothing when it is up: wait for the port to answer.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        await proc.status;
        const errLog = await Deno.readTextFile(`${dir}/error.log`).catch(() => "");
        throw new Error(`nginx did not start:\n${log}${errLog}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    pid: proc.pid,
    version,
    log: () => {
      let errLog = "";
      try {
        errLog = Deno.readTextFileSync(`${dir}/error.log`);
      } catch {
        // removed at stop
      }
      return log + errLog;
    },
    async stop() {
      try {
        proc.kill("SIGQUIT");
      } catch {
        // already gone
      }
      await proc.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
