/**
 * The gateway's operator answers (built by gateway/routes/admin.ts, read by the CLI) (`GET /cortex/status`,
 * `GET /v1/models`, load / unload results). Unknown fields pass through, so a
 * newer gateway does not break an older CLI.
 */

import { z } from "zod";
import {
  DeviceSchema,
  ModelSplitSchema,
  ModelStateSchema,
  SpeculationStateSchema,
} from "../neuron/schemas.ts";

export const StatusModelSchema = z.looseObject({
  id: z.string(),
  state: ModelStateSchema,
  device: z.string().nullable(),
  memory_bytes: z.number().nullable(),
  /** A split model's devices and shares (absent or null: one device). */
  split: ModelSplitSchema.nullable().optional(),
  /** Requests the neuron is running / holding for a slot. */
  in_flight: z.number(),
  queued: z.number(),
  /** Load progress in [0, 1] while loading. */
  progress: z.number().nullable(),
  error: z.string().nullable(),
  /** Requests the gateway has in flight there. */
  gateway_in_flight: z.number(),
  last_used: z.number().nullable(),
  /** Moving average of generation speed seen by the gateway. */
  tokens_per_second: z.number().nullable(),
  /** Speculative decoding as loaded, with drafted and accepted tokens since the load. */
  speculation: SpeculationStateSchema.nullable().optional(),
});
export type StatusModel = z.infer<typeof StatusModelSchema>;

export const StatusNeuronSchema = z.looseObject({
  name: z.string(),
  endpoint: z.string(),
  up: z.boolean(),
  last_seen: z.number().nullable(),
  last_error: z.string().nullable(),
  version: z.string().nullable(),
  devices: z.array(DeviceSchema),
  models: z.array(StatusModelSchema),
  load_cycles: z.number(),
});
export type StatusNeuron = z.infer<typeof StatusNeuronSchema>;

export const StatusSchema = z.looseObject({
  neurons: z.array(StatusNeuronSchema),
  catalogue: z.array(z.looseObject({
    id: z.string(),
    aliases: z.array(z.string()),
    loaded_on: z.array(z.string()),
    available_on: z.array(z.string()),
    tokens_per_second: z.number().nullable(),
  })),
});
export type Status = z.infer<typeof StatusSchema>;

export const CatalogueModelSchema = z.looseObject({
  id: z.string(),
  aliases: z.array(z.string()).default([]),
  /** Set on the extra entries that repeat a model under an alias. */
  alias_of: z.string().optional(),
  context_length: z.number().nullable().default(null),
  state: z.string().default("available"),
  loaded_on: z.array(z.string()).default([]),
  available_on: z.array(z.string()).default([]),
  tokens_per_second: z.number().nullable().default(null),
});
export type CatalogueModel = z.infer<typeof CatalogueModelSchema>;

export const ModelListSchema = z.looseObject({ data: z.array(CatalogueModelSchema) });

export const LoadDoneSchema = z.looseObject({
  model: z.string(),
  node: z.string(),
  seconds: z.number(),
  /** The model was loaded there before the request (gateways before this field: false). */
  already: z.boolean().default(false),
});
export type LoadDone = z.infer<typeof LoadDoneSchema>;

export const LoadProgressSchema = z.looseObject({ progress: z.number() });

export const UnloadResultSchema = z.looseObject({
  model: z.string(),
  unloaded_from: z.array(z.string()),
});
