/**
 * Real neuron and gateway processes on loopback for integration tests:
 * spawned with the same entry points users run, on a free port, with their
 * logs kept for a failing test to show.
 */

const ROOT = new URL("../../", import.meta.url).pathname;
const PERMS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  "--allow-sys",
];

export interface Spawned {
  url: string;
  proc: Deno.ChildProcess;
  /** Everything the process wrote to stderr so far. */
  log(): string;
  /** SIGTERM and wait; returns the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** SIGKILL: the process dies without cleanup (a crashed host). */
  kill(): Promise<void>;
}

/** A port nothing listens on right now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Spawns `deno run <entry> serve --config <config>` and waits for the
 * "listening on <url>" line it prints to stdout.
 */
export async function spawnServer(
  entry: "cli/neuron.ts" | "cli/cortex.ts",
  configPath: string,
  opts: { env?: Record<string, string>; args?: string[]; timeoutMs?: number } = {},
): Promise<Spawned> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...PERMS,
      `${ROOT}${entry}`,
      "serve",
      "--config",
      configPath,
      ...(opts.args ?? []),
    ],
    cwd: ROOT,
    env: { CORTEX_LOG: "info", ...opts.env },
    stdout: "piped",
    stderr: "piped",
  });
  const proc = cmd.spawn();
  let stderr = "";
  const dec = new TextDecoder();
  (async () => {
    for await (const chunk of proc.stderr) stderr += dec.decode(chunk, { stream: true });
  })().catch(() => {});
  const reader = proc.stdout.getReader();
  let out = "";
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let url: string | undefined;
  while (!url) {
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`${entry} did not start in time:\n${stderr}`);
    }
    const { value, done } = await reader.read();
    if (done) {
      const status = await proc.status;
      throw new Error(`${entry} exited with ${status.code} before listening:\n${stderr}`);
    }
    out += dec.decode(value, { stream: true });
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) url = m[1];
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })().catch(() => {});
  let exited: Promise<Deno.CommandStatus> | undefined;
  const status = () => exited ??= proc.status;
  return {
    url,
    proc,
    log: () => stderr,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        proc.kill(signal);
      } catch {
        // already gone
      }
      return (await status()).code;
    },
    async kill() {
      try {
        proc.kill("SIGKILL");
      } catch {
        // already gone
      }
      await status();
    },
  };
}

/** Writes a TOML config into a fresh temp dir and returns its path. */
export async function writeConfig(name: string, toml: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "cortex-test-" });
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, toml);
  return path;
}

/** A model store dir with the given fixture files linked under the given ids. */
export async function makeStore(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "cortex-store-" });
  for (const [id, src] of Object.entries(files)) {
    const dest = `${dir}/${id}.gguf`;
    const parent = dest.slice(0, dest.lastIndexOf("/"));
    await Deno.mkdir(parent, { recursive: true });
    await Deno.copyFile(src, dest);
  }
  return dir;
}
