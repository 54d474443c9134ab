/**
 * Progress of a load or pull: a cli-progress bar when stdout is a terminal
 * with a known width, otherwise plain lines (`loading qwen: 45%`) that read
 * well in logs and pipes.
 */

import cliProgress from "cli-progress";
import process from "node:process";

/** Where progress goes and whether it may redraw in place. */
export interface Output {
  /** A terminal with columns > 0: draw a bar. */
  interactive: boolean;
  /** Writes a whole line (plain mode). */
  line(text: string): void;
}

/** stdout as the operator commands use it. */
export function stdoutOutput(): Output {
  const enc = new TextEncoder();
  return {
    interactive: isInteractive(),
    line: (text) => {
      Deno.stdout.writeSync(enc.encode(`${text}\n`));
    },
  };
}

/** True when stdout is a terminal that reports a width. */
export function isInteractive(): boolean {
  if (!Deno.stdout.isTerminal()) return false;
  try {
    return Deno.consoleSize().columns > 0;
  } catch {
    return false;
  }
}

export interface Progress {
  /**
   * A new state: `fraction` in [0, 1], or null when the total is unknown;
   * `detail` follows the percentage (sizes, rates).
   */
  update(fraction: number | null, detail?: string): void;
  /** Ends the display; a bar stays on screen at its last state. */
  stop(): void;
}

export interface ProgressOptions {
  /** Plain mode: a line each time the percentage reaches a new multiple of this. */
  percentStep?: number;
  /** Plain mode with an unknown total: at most one line per this many ms. */
  lineEveryMs?: number;
  now?: () => number;
}

/** The part of cli-progress's SingleBar used here (the package ships no types). */
interface SingleBar {
  start(total: number, value: number, payload: Record<string, string>): void;
  update(value: number, payload: Record<string, string>): void;
  stop(): void;
}

const BAR_TOTAL = 1000;

export function createProgress(label: string, out: Output, opts: ProgressOptions = {}): Progress {
  return out.interactive ? barProgress(label) : lineProgress(label, out, opts);
}

const sep = (detail: string) => detail ? ` | ${detail}` : "";

function barProgress(label: string): Progress {
  let bar: SingleBar | null = null;
  let stopped = false;
  const newBar = (format: string): SingleBar =>
    new cliProgress.SingleBar(
      {
        format,
        stream: process.stdout,
        hideCursor: true,
        clearOnComplete: false,
        barsize: 30,
        fps: 10,
        autopadding: true,
      },
      cliProgress.Presets.shades_classic,
    ) as SingleBar;
  return {
    update(fraction, detail = "") {
      if (stopped) return;
      const value = fraction === null
        ? 0
        : Math.round(Math.min(1, Math.max(0, fraction)) * BAR_TOTAL);
      if (!bar) {
        // Without a total there is nothing to fill: show the detail alone. The label is a
        // payload value, so braces in a file name are never read as format tokens.
        bar = newBar(
          fraction === null ? "{label}{detail}" : "{label} {bar} {percentage}%{detail}",
        );
        bar.start(BAR_TOTAL, value, { label, detail: sep(detail) });
      } else bar.update(value, { label, detail: sep(detail) });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar?.stop();
    },
  };
}

function lineProgress(label: string, out: Output, opts: ProgressOptions): Progress {
  const step = opts.percentStep ?? 10;
  const every = opts.lineEveryMs ?? 5_000;
  const now = opts.now ?? (() => performance.now());
  let lastStep = -1;
  let lastAt = -Infinity;
  let stopped = false;
  return {
    update(fraction, detail) {
      if (stopped) return;
      const tail = detail ? ` (${detail})` : "";
      if (fraction === null) {
        if (now() - lastAt < every) return;
        lastAt = now();
        out.line(`${label}: ${detail ?? "in progress"}`);
        return;
      }
      const pct = Math.floor(Math.min(1, Math.max(0, fraction)) * 100);
      const s = Math.floor(pct / step);
      if (s <= lastStep) return;
      lastStep = s;
      out.line(`${label}: ${pct}%${tail}`);
    },
    stop() {
      stopped = true;
    },
  };
}
