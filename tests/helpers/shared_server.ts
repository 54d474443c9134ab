/**
 * One server process shared by the tests of a file: started by the first test that needs it
 * (then made ready, e.g. models loaded), stopped by the file's last test. It outlives each
 * test, so those tests run without Deno's op and resource sanitizers.
 */

import { assertEquals } from "../assert.ts";
import { ensureFixture, type FixtureName, FIXTURES } from "../fixtures/mod.ts";
import { makeStore, type Spawned, spawnServer, writeConfig } from "./processes.ts";

export class SharedServer {
  #starting: Promise<Spawned> | undefined;
  #server: Spawned | undefined;

  constructor(
    readonly start: () => Promise<Spawned>,
    readonly ready: (server: SharedServer) => Promise<void> = async () => {},
  ) {}

  /** Starts and readies the server on the first call; later calls share it. */
  up(): Promise<Spawned> {
    return this.#starting ??= (async () => {
      this.#server = await this.start();
      await this.ready(this);
      return this.#server;
    })();
  }

  /** The running server's base URL; only after up(). */
  get url(): string {
    if (!this.#server) throw new Error("the shared server is not started yet");
    return this.#server.url;
  }

  /** A test that runs once the server is up. */
  test(name: string, fn: () => Promise<void>): void {
    Deno.test({
      name,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        await this.up();
        await fn();
      },
    });
  }

  /** Registers the file's last test: the server exits cleanly (status 0) on `signal`. */
  stopAtEnd(name: string, signal?: Deno.Signal): void {
    Deno.test({
      name,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        const server = await this.up();
        this.#server = undefined;
        this.#starting = undefined;
        assertEquals(await server.stop(signal), 0);
      },
    });
  }

  /** POSTs JSON to the server: the status and the parsed answer. */
  async post(path: string, body: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${this.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    // deno-lint-ignore no-explicit-any
    return { status: res.status, json: await res.json() as any };
  }
}

/**
 * A neuron process serving the named fixtures (each as the model of that name), all loaded:
 * 2 slots of 4096 tokens (room for the longest constrained answers the tests ask for), one
 * thread.
 */
export function loadedNeuron(names: FixtureName[]): SharedServer {
  return new SharedServer(async () => {
    const files: Record<string, string> = {};
    for (const name of names) files[name] = await ensureFixture(FIXTURES[name]);
    const config = await writeConfig(
      "neuron.toml",
      `listen = "127.0.0.1:0"
model_dirs = ["${await makeStore(files)}"]
slots = 2
context = 4096
n_threads = 1
n_batch = 256
max_queue = 16
memory_budget_mb = { CPU = 600 }
`,
    );
    return await spawnServer("cli/neuron.ts", config);
  }, async (neuron) => {
    for (const model of names) {
      const r = await neuron.post("/models/load", { model });
      assertEquals(r.status, 200, JSON.stringify(r.json));
    }
  });
}
