/** A neuron's model record for tests: a loaded CPU model of sensible size, overridden as needed. */

import type { NeuronModel } from "../../core/neuron/schemas.ts";

const MiB = 1024 * 1024;

export function neuronModel(over: Partial<NeuronModel> & { id: string }): NeuronModel {
  return {
    source: over.id,
    state: "loaded",
    device: "CPU",
    size_bytes: 50 * MiB,
    memory_bytes: 64 * MiB,
    context_length: 4096,
    context: 4096,
    slots: 1,
    kv_bytes_per_token: null,
    reasoning: null,
    chat_template: true,
    tool_format: null,
    embeddings: false,
    in_flight: 0,
    queued: 0,
    progress: null,
    error: null,
    loaded_at: null,
    last_used: null,
    ...over,
  };
}
