/** Human-readable numbers for the operator commands' tables and progress lines. */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** Bytes in binary units: "512 B", "1.5 MiB", "23.4 GiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "-";
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${UNITS[u]}`;
}

/** A transfer rate: "5.2 MiB/s". */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

/** Seconds: "0.27 s", "12.5 s", "3m 05s", "1h 02m". */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "-";
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  const pad = (x: number) => String(x).padStart(2, "0");
  return h ? `${h}h ${pad(m)}m` : `${m}m ${pad(sec)}s`;
}

/** Milliseconds for latency figures: "0.85 ms", "12.3 ms", "1.24 s". */
export function formatMs(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return "-";
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** How long ago a timestamp (ms since epoch) was: "3s ago", "5m ago"; "never" for null/0. */
export function formatAgo(at: number | null, now: number): string {
  if (!at) return "never";
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** A fraction in [0, 1] as a whole percentage: "45%". */
export function formatPercent(fraction: number): string {
  return `${Math.floor(Math.min(1, Math.max(0, fraction)) * 100)}%`;
}

/** A number with up to `digits` decimals, "-" for null. */
export function formatNumber(n: number | null, digits = 1): string {
  return n === null || !Number.isFinite(n) ? "-" : n.toFixed(digits);
}
