/**
 * `cortex status`: the fleet as the gateway sees it — neurons up or down
 * (with the last error), devices and their memory, models with their state,
 * requests in flight and queued, and generation speed.
 */

import { Client } from "./client.ts";
import { formatAgo, formatBytes, formatNumber, formatPercent } from "./format.ts";
import { type Status, type StatusModel, StatusSchema } from "../core/gateway/schemas.ts";
import type { GlobalOptions } from "./options.ts";
import { renderTable } from "./table.ts";

function modelState(m: StatusModel): string {
  if (m.state === "loading" && m.progress !== null) return `loading ${formatPercent(m.progress)}`;
  if (m.state === "failed" && m.error) return `failed: ${m.error}`;
  return m.state;
}

/**
 * Speculation as a cell: the model's default mode and the share of drafted tokens accepted.
 * Requests may draft on a model whose default is off (`speculative: "ngram"`), so counts
 * show whatever the default.
 */
export function formatSpeculation(m: StatusModel): string {
  const s = m.speculation;
  if (!s || (s.mode === "off" && s.drafted_tokens === 0)) return "-";
  if (s.drafted_tokens === 0) return `${s.mode}, none drafted`;
  return `${s.mode === "off" ? "per request" : s.mode} ${
    formatPercent(s.accepted_tokens / s.drafted_tokens)
  } of ${formatNumber(s.drafted_tokens, 0)}`;
}

/** The three tables of `cortex status`, as text. */
export function renderStatus(s: Status, now = Date.now()): string {
  const sections: string[] = [];
  const up = s.neurons.filter((n) => n.up).length;
  sections.push(
    `NEURONS (${up} of ${s.neurons.length} up)\n` + renderTable(
      ["name", "state", "endpoint", "version", "last seen", "last error"],
      s.neurons.map((n) => [
        n.name,
        n.up ? "up" : "down",
        n.endpoint,
        n.version ?? "-",
        formatAgo(n.last_seen, now),
        n.last_error ?? "-",
      ]),
    ),
  );
  const devices = s.neurons.flatMap((n) => n.devices.map((d) => ({ n, d })));
  sections.push(
    devices.length
      ? "DEVICES\n" + renderTable(
        ["neuron", "device", "type", "state", "used", "total", "free"],
        devices.map(({ n, d }) => {
          const total = d.memory_budget_bytes ?? d.memory_total_bytes;
          const pct = total > 0 ? ` (${formatPercent(d.memory_used_bytes / total)})` : "";
          return [
            n.name,
            d.name,
            d.remote ? `${d.type} (rpc)` : d.type,
            d.state === "ok" ? "ok" : `failed${d.error ? `: ${d.error}` : ""}`,
            formatBytes(d.memory_used_bytes) + pct,
            formatBytes(total) + (d.memory_budget_bytes !== null ? " (budget)" : ""),
            formatBytes(d.memory_free_bytes),
          ];
        }),
      )
      : "DEVICES\nnone reported",
  );
  const models = s.neurons.flatMap((n) => n.models.map((m) => ({ n, m })));
  sections.push(
    models.length
      ? "MODELS\n" + renderTable(
        [
          "neuron",
          "model",
          "state",
          "device",
          "memory",
          "in flight",
          "queued",
          "tok/s",
          "drafts accepted",
        ],
        models.flatMap(({ n, m }) => {
          const row = (device: string, memory: number | null) => [
            n.name,
            m.id,
            modelState(m),
            device,
            memory === null ? "-" : formatBytes(memory),
            m.in_flight,
            m.queued,
            formatNumber(m.tokens_per_second),
            formatSpeculation(m),
          ];
          // A split model: a row on each of its devices, with its layers and share there.
          if (!m.split) return [row(m.device ?? "-", m.memory_bytes)];
          const total = m.split.shares.reduce((a, x) => a + x.layers, 0);
          return m.split.shares.map((x) =>
            row(`${x.device} (${m.split!.mode} split, ${x.layers}/${total} layers)`, x.memory_bytes)
          );
        }),
      )
      : "MODELS\nnone loaded",
  );
  return sections.join("\n\n");
}

export async function statusCommand(
  globals: GlobalOptions,
  opts: { json?: boolean },
): Promise<void> {
  const { value, raw } = await new Client(globals).getJson("/cortex/status", StatusSchema);
  console.log(opts.json ? JSON.stringify(raw, null, 2) : renderStatus(value));
}
