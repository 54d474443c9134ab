/**
 * node-llama-cpp 3.21.1 under Node as a benchmark peer: installed on first use into
 * `tests/bench/.peer/` (only its node_modules, nothing Deno's tools look at), then driven
 * over JSON lines by node_llama_cpp_peer.mjs. It runs the same prebuilt llama.cpp
 * (`@node-llama-cpp/linux-x64@3.21.1`) the engine does.
 */

import { z } from "zod";
import { type Resident, ResidentSchema } from "./resident.ts";
import {
  type Peer,
  type RoundFigures,
  RoundFiguresSchema,
  type RoundPrompts,
  type Setup,
  type Shape,
} from "./workload.ts";

export const NODE_LLAMA_CPP_VERSION = "3.21.1";
export const DEFAULT_PEER_DIR = decodeURIComponent(new URL("../.peer", import.meta.url).pathname);
const SCRIPT = decodeURIComponent(new URL("./node_llama_cpp_peer.mjs", import.meta.url).pathname);

const PACKAGES = ["node-llama-cpp", "@node-llama-cpp/linux-x64"];

const ReplySchema = z.discriminatedUnion("op", [
  z.object({
    op: z.literal("ready"),
    version: z.string(),
    llamaCpp: z.string(),
    buildType: z.string(),
    gpu: z.union([z.string(), z.literal(false)]),
    contextSize: z.number(),
    batchSize: z.number(),
    threads: z.number(),
  }),
  z.object({ op: z.literal("figures"), figures: RoundFiguresSchema }),
  z.object({ op: z.literal("memory"), resident: ResidentSchema }),
  z.object({ op: z.literal("closed") }),
  z.object({ op: z.literal("error"), message: z.string() }),
]);
type Reply = z.infer<typeof ReplySchema>;
export type NodeReady = Extract<Reply, { op: "ready" }>;

async function installedVersion(dir: string, pkg: string): Promise<string | undefined> {
  try {
    const text = await Deno.readTextFile(`${dir}/node_modules/${pkg}/package.json`);
    return z.object({ version: z.string() }).parse(JSON.parse(text)).version;
  } catch {
    return undefined;
  }
}

/**
 * Installs node-llama-cpp and its Linux x64 CPU binaries into `dir` unless that exact
 * version is there. Optional dependencies (CUDA, Vulkan and other platforms' binaries) are
 * left out, install scripts are not run (its postinstall would probe for or build
 * llama.cpp), and no package.json or lockfile is written.
 */
export async function ensureNodeLlamaCpp(
  dir = DEFAULT_PEER_DIR,
  log: (line: string) => void = () => {},
): Promise<void> {
  const versions = await Promise.all(PACKAGES.map((p) => installedVersion(dir, p)));
  if (versions.every((v) => v === NODE_LLAMA_CPP_VERSION)) return;
  await Deno.mkdir(dir, { recursive: true });
  log(`installing node-llama-cpp@${NODE_LLAMA_CPP_VERSION} into ${dir}`);
  const out = await new Deno.Command("npm", {
    args: [
      "install",
      "--prefix",
      dir,
      "--no-save",
      "--no-package-lock",
      "--omit=optional",
      "--ignore-scripts",
      "--no-audit",
      "--no-fund",
      ...PACKAGES.map((p) => `${p}@${NODE_LLAMA_CPP_VERSION}`),
    ],
    env: { NODE_LLAMA_CPP_SKIP_DOWNLOAD: "true" },
    stdout: "piped",
    stderr: "piped",
  }).output().catch((e: Error) => {
    throw new Error(`could not run npm to install node-llama-cpp: ${e.message}`);
  });
  if (!out.success) {
    throw new Error(
      `npm install node-llama-cpp@${NODE_LLAMA_CPP_VERSION} failed (exit ${out.code}):\n${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
}

export class NodePeer implements Peer {
  readonly name = "node-llama-cpp";
  readonly ready: NodeReady;
  readonly #proc: Deno.ChildProcess;
  readonly #ch: Channel;

  private constructor(proc: Deno.ChildProcess, ch: Channel, ready: NodeReady) {
    this.#proc = proc;
    this.#ch = ch;
    this.ready = ready;
  }

  /** Spawns `node` on the peer script and loads the model there. */
  static async start(setup: Setup, dir = DEFAULT_PEER_DIR): Promise<NodePeer> {
    const proc = new Deno.Command("node", {
      args: [SCRIPT, dir],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let stderr = "";
    (async () => {
      for await (const chunk of proc.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
    })().catch(() => {});
    const ch: Channel = {
      lines: readLines(proc.stdout)[Symbol.asyncIterator](),
      writer: proc.stdin.getWriter(),
      stderr: () => stderr,
    };
    try {
      return new NodePeer(proc, ch, await exchange(ch, { op: "setup", setup }, "ready"));
    } catch (e) {
      await kill(proc);
      throw e;
    }
  }

  async round(prompts: RoundPrompts, shape: Shape): Promise<RoundFigures> {
    return (await exchange(this.#ch, { op: "round", prompts, shape }, "figures")).figures;
  }

  /** Resident memory of the Node process now. */
  async memory(): Promise<Resident> {
    return (await exchange(this.#ch, { op: "memory" }, "memory")).resident;
  }

  async close(): Promise<void> {
    try {
      await exchange(this.#ch, { op: "close" }, "closed");
      await this.#ch.writer.close();
    } finally {
      const exited = await Promise.race([
        this.#proc.status.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 10_000)),
      ]);
      if (!exited) await kill(this.#proc);
    }
  }
}

async function kill(proc: Deno.ChildProcess): Promise<void> {
  try {
    proc.kill("SIGKILL");
  } catch {
    // already gone
  }
  await proc.status;
}

interface Channel {
  lines: AsyncIterator<string>;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  stderr: () => string;
}

/** Sends one request and reads replies until one of kind `want` (or an error) arrives. */
async function exchange<K extends Reply["op"]>(
  ch: Channel,
  request: unknown,
  want: K,
): Promise<Extract<Reply, { op: K }>> {
  await ch.writer.write(new TextEncoder().encode(JSON.stringify(request) + "\n"));
  while (true) {
    const next = await ch.lines.next();
    if (next.done) {
      throw new Error(`node-llama-cpp peer exited before replying:\n${ch.stderr()}`);
    }
    let reply: Reply;
    try {
      reply = ReplySchema.parse(JSON.parse(next.value));
    } catch {
      continue; // a stray line some library printed to stdout
    }
    if (reply.op === "error") throw new Error(`node-llama-cpp peer: ${reply.message}`);
    if (reply.op === want) return reply as Extract<Reply, { op: K }>;
    throw new Error(`node-llama-cpp peer: expected ${want}, got ${reply.op}`);
  }
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) yield buf;
}
