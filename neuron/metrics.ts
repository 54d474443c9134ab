/**
 * The neuron's Prometheus metrics on its own registry. Gauges are read
 * from live state at scrape time; token counters grow as requests finish.
 */

import { Counter, Gauge, Registry } from "prom-client";
import type { Neuron } from "./node.ts";

export class NeuronMetrics {
  readonly registry = new Registry();
  readonly promptTokens: Counter<"model">;
  readonly generatedTokens: Counter<"model">;
  readonly requests: Counter<"model" | "endpoint" | "status">;
  readonly draftedTokens: Counter<"model">;
  readonly acceptedTokens: Counter<"model">;

  constructor(neuron: Neuron) {
    const r = this.registry;
    this.promptTokens = new Counter({
      name: "neuron_prompt_tokens_total",
      help: "Prompt tokens of finished requests (cached ones included).",
      labelNames: ["model"],
      registers: [r],
    });
    this.generatedTokens = new Counter({
      name: "neuron_generation_tokens_total",
      help: "Tokens generated.",
      labelNames: ["model"],
      registers: [r],
    });
    this.draftedTokens = new Counter({
      name: "neuron_draft_tokens_total",
      help: "Tokens drafted (prompt lookup or a draft model) and verified by the model.",
      labelNames: ["model"],
      registers: [r],
    });
    this.acceptedTokens = new Counter({
      name: "neuron_draft_accepted_tokens_total",
      help: "Drafted tokens the model accepted (each saves a decode step).",
      labelNames: ["model"],
      registers: [r],
    });
    this.requests = new Counter({
      name: "neuron_requests_total",
      help: "Inference requests by outcome.",
      labelNames: ["model", "endpoint", "status"],
      registers: [r],
    });
    const perModel = (
      name: string,
      help: string,
      pick: (s: Awaited<ReturnType<Neuron["engine"]["stats"]>>[number]["models"][number]) => number,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ["model"],
        registers: [r],
        async collect() {
          this.reset();
          for (const w of await neuron.engine.stats()) {
            for (const m of w.models) this.set({ model: m.key }, pick(m));
          }
        },
      });
    perModel("neuron_queue_depth", "Requests waiting for a slot.", (m) => m.queued);
    perModel("neuron_active_slots", "Slots generating or prefilling.", (m) => m.active);
    perModel("neuron_slots", "Slots per loaded model.", (m) => m.slots);
    perModel("neuron_kv_cells_used", "KV cache cells holding tokens.", (m) => m.kvUsedCells);
    perModel("neuron_kv_cells_total", "KV cache cells.", (m) => m.kvTotalCells);
    new Gauge({
      name: "neuron_device_memory_bytes",
      help: "Device memory: total, free (after budgets and resident models) and used by models.",
      labelNames: ["device", "kind"],
      registers: [r],
      async collect() {
        this.reset();
        for (const d of await neuron.devices()) {
          this.set(
            { device: d.name, kind: "total" },
            d.memory_budget_bytes ?? d.memory_total_bytes,
          );
          this.set({ device: d.name, kind: "free" }, d.memory_free_bytes);
          this.set({ device: d.name, kind: "used" }, d.memory_used_bytes);
        }
      },
    });
    new Gauge({
      name: "neuron_device_up",
      help: "1 while a device's worker is healthy.",
      labelNames: ["device"],
      registers: [r],
      async collect() {
        this.reset();
        for (const d of await neuron.devices()) {
          this.set({ device: d.name }, d.state === "ok" ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: "neuron_model_loaded",
      help: "1 for each loaded model, by device.",
      labelNames: ["model", "device"],
      registers: [r],
      collect() {
        this.reset();
        for (const m of neuron.loadedRecords()) this.set({ model: m.key, device: m.device }, 1);
      },
    });
  }

  async render(): Promise<Response> {
    return new Response(await this.registry.metrics(), {
      headers: { "content-type": this.registry.contentType },
    });
  }
}
