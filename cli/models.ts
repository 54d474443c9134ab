/** `cortex models`: the catalogue (`GET /v1/models`) — what can be asked for, and where it runs. */

import { Client } from "./client.ts";
import { type CatalogueModel, ModelListSchema } from "../core/gateway/schemas.ts";
import type { GlobalOptions } from "./options.ts";
import { renderTable } from "./table.ts";

/** The catalogue without the entries that repeat a model under an alias. */
export function canonicalModels(data: CatalogueModel[]): CatalogueModel[] {
  return data.filter((m) => m.alias_of === undefined);
}

export function renderModels(models: CatalogueModel[]): string {
  if (!models.length) return "no models: no neuron is up, or none has a model in its store";
  const list = (xs: string[]) => xs.length ? xs.join(", ") : "-";
  return renderTable(
    ["id", "aliases", "state", "loaded on", "available on", "context"],
    models.map((m) => [
      m.id,
      list(m.aliases),
      m.state,
      list(m.loaded_on),
      list(m.available_on),
      m.context_length ?? "-",
    ]),
  );
}

export async function modelsCommand(
  globals: GlobalOptions,
  opts: { json?: boolean },
): Promise<void> {
  const { value, raw } = await new Client(globals).getJson("/v1/models", ModelListSchema);
  const models = canonicalModels(value.data);
  if (opts.json) {
    const rawData = (raw as { data: unknown[] }).data;
    console.log(
      JSON.stringify(rawData.filter((_, i) => value.data[i].alias_of === undefined), null, 2),
    );
  } else console.log(renderModels(models));
}
