/**
 * A small leveled logger writing one line per event to stderr.
 *
 * The level comes from `CORTEX_LOG` (debug | info | warn | error, default info) so
 * that llama.cpp's chatter can be silenced or surfaced without code changes.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(scope: string): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function parseLevel(value: string | undefined): LogLevel {
  const v = (value ?? "").toLowerCase();
  return v in ORDER ? v as LogLevel : "info";
}

function envLevel(): LogLevel {
  try {
    return parseLevel(Deno.env.get("CORTEX_LOG"));
  } catch {
    return "info"; // no --allow-env: keep the default
  }
}

let threshold = ORDER[envLevel()];

/** Changes the process-wide level (the CLI's `--log-level`). */
export function setLogLevel(level: LogLevel): void {
  threshold = ORDER[level];
}

/** The process-wide level now (what a new worker should start with). */
export function logLevel(): LogLevel {
  return (Object.keys(ORDER) as LogLevel[]).find((l) => ORDER[l] === threshold) ?? "info";
}

function format(v: unknown): string {
  if (typeof v === "string") return /[\s="]/.test(v) ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(v) ?? String(v);
}

const encoder = new TextEncoder();

export function createLogger(scope: string): Logger {
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (ORDER[level] < threshold) return;
    let line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${scope}: ${msg}`;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        if (v !== undefined) line += ` ${k}=${format(v)}`;
      }
    }
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (sub) => createLogger(`${scope}.${sub}`),
  };
}
