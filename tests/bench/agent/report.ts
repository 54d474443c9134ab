/** The agent benchmark's figures and its table (pure: tested without running anything). */

export interface Turn {
  /** Request sent → first token back (a one-token answer's latency). */
  ttftMs: number;
  promptTokens: number;
  /** Prompt tokens the server reused from a slot's cache. */
  cachedTokens: number;
}

export interface PeerResult {
  name: string;
  turn1: Turn;
  turn2: Turn;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Medians over rounds, per turn figure. */
export function medianResult(name: string, rounds: PeerResult[]): PeerResult {
  const turn = (k: "turn1" | "turn2"): Turn => ({
    ttftMs: median(rounds.map((r) => r[k].ttftMs)),
    promptTokens: median(rounds.map((r) => r[k].promptTokens)),
    cachedTokens: median(rounds.map((r) => r[k].cachedTokens)),
  });
  return { name, turn1: turn("turn1"), turn2: turn("turn2") };
}

/** Prompt tokens actually prefilled per second of TTFT. */
export const prefillRate = (t: Turn) => (t.promptTokens - t.cachedTokens) / (t.ttftMs / 1000);

const ms = (x: number) => x >= 100 ? x.toFixed(0) : x.toFixed(1);

/** A Markdown table: cortex (through the gateway) and, when run, llama-server side by side. */
export function renderTable(cortex: PeerResult, peer: PeerResult | null): string {
  const cols = peer ? [cortex, peer] : [cortex];
  const head = `| figure | ${cols.map((c) => c.name).join(" | ")} |${peer ? " cortex/peer |" : ""}`;
  const sep = `| --- | ${cols.map(() => "---").join(" | ")} |${peer ? " --- |" : ""}`;
  const row = (label: string, f: (r: PeerResult) => number, fmt: (x: number) => string) =>
    `| ${label} | ${cols.map((c) => fmt(f(c))).join(" | ")} |` +
    (peer ? ` ${(f(cortex) / f(peer)).toFixed(2)}× |` : "");
  return [
    head,
    sep,
    row("turn 1 prompt tokens", (r) => r.turn1.promptTokens, String),
    row("turn 1 TTFT ms", (r) => r.turn1.ttftMs, ms),
    row("turn 1 prefill tok/s", (r) => prefillRate(r.turn1), (x) => x.toFixed(0)),
    row("turn 2 prompt tokens", (r) => r.turn2.promptTokens, String),
    row("turn 2 cached tokens", (r) => r.turn2.cachedTokens, String),
    row("turn 2 TTFT ms", (r) => r.turn2.ttftMs, ms),
    row("turn 2 prefill tok/s", (r) => prefillRate(r.turn2), (x) => x.toFixed(0)),
    row(
      "turn 2 / turn 1 TTFT",
      (r) => r.turn2.ttftMs / r.turn1.ttftMs,
      (x) => `${(100 * x).toFixed(1)}%`,
    ),
  ].join("\n");
}

/** The targets: turn 2 ≤ 10% of turn 1, and ≤ 1.0× the peer's turn 2. */
export function targets(cortex: PeerResult, peer: PeerResult | null): string[] {
  const out = [];
  const share = cortex.turn2.ttftMs / cortex.turn1.ttftMs;
  out.push(
    `turn-2 TTFT ${(100 * share).toFixed(1)}% of turn 1 (target ≤ 10%): ${
      share <= 0.1 ? "met" : "MISSED"
    }`,
  );
  if (peer) {
    const ratio = cortex.turn2.ttftMs / peer.turn2.ttftMs;
    out.push(
      `turn-2 TTFT ${ratio.toFixed(2)}× llama-server's (target ≤ 1.0×): ${
        ratio <= 1 ? "met" : "MISSED"
      }`,
    );
  }
  return out;
}
