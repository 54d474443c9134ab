/**
 * llama-server from the same local llama.cpp build as the neuron (`deno task llama-build
 * --peer`), with the neuron's threads, slots (one KV stream each), context per slot and batch,
 * driven with the same streamed chat requests.
 */

import { freePort } from "../../helpers/processes.ts";
import { chatBody, streamChat } from "./http_peer.ts";
import type { NeuronSetup } from "./http_peer.ts";
import type { RequestFigures, RequestSpec } from "./workload.ts";

export class LlamaServerPeer {
  readonly name = "llama-server";
  readonly url: string;
  readonly #proc: Deno.ChildProcess;
  readonly #log: () => string;

  private constructor(url: string, proc: Deno.ChildProcess, log: () => string) {
    this.url = url;
    this.#proc = proc;
    this.#log = log;
  }

  /** The command line: the neuron's settings in llama-server's flags. */
  static args(setup: NeuronSetup, port: number): string[] {
    const slots = setup.slots ?? 1;
    return [
      ...["-m", setup.modelPath, "--host", "127.0.0.1", "--port", String(port)],
      ...["-t", String(setup.threads), "-tb", String(setup.threads)],
      // -c is the whole context; with -np slots and no --kv-unified each slot gets c / np.
      ...["-np", String(slots), "-c", String(setup.context * slots)],
      ...["-b", String(setup.nBatch), "-ub", String(setup.nBatch)],
      ...["--jinja", "--no-webui"],
      ...(setup.gpu ? ["-ngl", "999"] : []),
    ];
  }

  static async start(binary: string, setup: NeuronSetup): Promise<LlamaServerPeer> {
    const port = freePort();
    const proc = new Deno.Command(binary, {
      args: LlamaServerPeer.args(setup, port),
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let log = "";
    const dec = new TextDecoder();
    (async () => {
      for await (const c of proc.stderr) if (log.length < 65536) log += dec.decode(c);
    })().catch(() => {});
    const url = `http://127.0.0.1:${port}`;
    const peer = new LlamaServerPeer(url, proc, () => log);
    for (let i = 0; i < 600; i++) {
      try {
        const r = await fetch(`${url}/health`);
        await r.body?.cancel();
        if (r.ok) return peer;
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    await peer.close();
    throw new Error(`llama-server did not become healthy in 60 s:\n${log.slice(-4000)}`);
  }

  run(spec: RequestSpec): Promise<RequestFigures> {
    return streamChat(this.url, chatBody("bench", spec), "llama-server").catch((e) => {
      throw new Error(`${(e as Error).message}\n${this.#log().slice(-2000)}`);
    });
  }

  async close(): Promise<void> {
    try {
      this.#proc.kill("SIGTERM");
    } catch { /* already gone */ }
    await this.#proc.status;
  }
}
