/**
 * What Ollama's model endpoints (`/api/tags`, `/api/show`, `/api/ps`) say about a model,
 * built from what a neuron reports of its GGUF and from the gateway's idle-unload state.
 */
import type { NeuronModel } from "../neuron/schemas.ts";

/** `details` of a model in Ollama's listings. */
export interface OllamaDetails {
  parent_model: string;
  format: "gguf";
  family: string;
  families: string[];
  parameter_size: string;
  quantization_level: string;
}

/** A quantization tag in a file name, for neurons that do not report `general.file_type`. */
const QUANT_IN_NAME = /(?:^|[-_.])(I?Q\d(?:_[A-Z0-9]+)*|BF16|F16|F32)(?=$|[-_.])/i;

/** A parameter count as Ollama writes it: `8B`, `7.6B`, `494.03M`, `135K`. */
export function parameterSize(n: number): string {
  const scaled = (v: number, places: number, unit: string) =>
    `${Number.isInteger(v) ? v.toFixed(0) : v.toFixed(places)}${unit}`;
  if (n >= 1e9) return scaled(n / 1e9, 1, "B");
  if (n >= 1e6) return scaled(n / 1e6, 2, "M");
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)}K`;
  return String(n);
}

/**
 * `details` from the GGUF facts a neuron reports (architecture, parameter count, file type);
 * empty strings where it does not know, as Ollama leaves them. `name` is the store id, whose
 * quantization tag stands in for a file type the neuron did not report.
 */
export function ollamaDetails(
  m: Pick<NeuronModel, "architecture" | "parameter_count" | "quantization"> | undefined,
  name: string,
): OllamaDetails {
  const family = m?.architecture ?? "";
  return {
    parent_model: "",
    format: "gguf",
    family,
    families: family ? [family] : [],
    parameter_size: m?.parameter_count !== undefined ? parameterSize(m.parameter_count) : "",
    quantization_level: m?.quantization ?? QUANT_IN_NAME.exec(name)?.[1]?.toUpperCase() ?? "",
  };
}

/**
 * Go's largest `time.Duration` (2^63-1 ns), in ms: what Ollama adds to now for a model that
 * never expires (a negative `keep_alive`), so its clients read a date some 292 years ahead
 * (`ollama ps` shows "Forever").
 */
const FOREVER_MS = 9_223_372_036_854;

/** `expires_at` of a loaded model: its idle unload's due time, or Ollama's "never". */
export function expiresAt(due: number | null, now: number): string {
  return new Date(due ?? now + FOREVER_MS).toISOString();
}

/** Ollama's `parameters` text: one `name value` line each, strings quoted as Go quotes them. */
export function parametersText(params: Record<string, unknown>): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    for (const one of Array.isArray(v) ? v : [v]) {
      lines.push(`${k.padEnd(30)} ${typeof one === "string" ? JSON.stringify(one) : one}`);
    }
  }
  return lines.join("\n");
}
