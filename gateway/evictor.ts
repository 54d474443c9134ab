/**
 * Background upkeep: unload models idle past `idle_ttl` (or past their own `keep_alive`,
 * which an Ollama client may set on any request), and reload a
 * neuron's models once it has seen `defrag_after_cycles` load/unload cycles
 * and is idle, to get its memory back in one piece.
 */

import { createLogger } from "../core/log.ts";
import type { Fleet } from "./fleet.ts";
import type { Lifecycle } from "./lifecycle.ts";
import { defragDue, idleVictims } from "./placement.ts";

export interface EvictorOptions {
  idleTtlMs: number;
  defragAfterCycles: number;
  intervalMs: number;
}

export class Evictor {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #stopped = false;
  #log = createLogger("evictor");

  constructor(
    private readonly fleet: Fleet,
    private readonly lifecycle: Lifecycle,
    private readonly opts: EvictorOptions,
  ) {}

  start(): void {
    // Runs even with idle_ttl off: a client's keep_alive can give any model a TTL of its own.
    const loop = () => {
      if (this.#stopped) return;
      this.#timer = setTimeout(async () => {
        await this.tick();
        loop();
      }, this.opts.intervalMs);
    };
    loop();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** One pass (also called by tests). */
  async tick(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      const victims = idleVictims({
        snapshot: this.fleet.snapshot(),
        residents: this.lifecycle.residents(),
        now: Date.now(),
        idleTtlMs: this.opts.idleTtlMs,
      });
      for (const v of victims) {
        try {
          await this.lifecycle.evictIdle(v.neuron, v.model);
        } catch (e) {
          this.#log.warn("idle unload failed", { model: v.model, neuron: v.neuron, error: e });
        }
      }
      if (this.opts.defragAfterCycles > 0) {
        for (const name of defragDue(this.lifecycle.cycles, this.opts.defragAfterCycles)) {
          try {
            await this.lifecycle.defrag(name);
          } catch (e) {
            this.#log.warn("defrag failed", { neuron: name, error: e });
          }
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
