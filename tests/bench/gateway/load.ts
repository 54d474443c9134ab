/**
 * Closed-loop load: `clients` keep-alive connections each sending the next POST as soon as
 * the last answer ended, for a fixed time. wrk does it in C when installed (so the load
 * generator costs little of a 2-core machine); otherwise a lean fetch loop in this process.
 */

import { findExecutable } from "./processes.ts";
import { percentile } from "./stats.ts";

export interface LoadResult {
  /** Completed requests with a 2xx answer per second. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Failed connections or non-2xx answers. */
  errors: number;
  requests: number;
}

export interface LoadSpec {
  url: string;
  body: string;
  clients: number;
  seconds: number;
}

export interface LoadGenerator {
  name: string;
  run(spec: LoadSpec): Promise<LoadResult>;
}

/** A Lua string literal (wrk's scripts are Lua). */
function luaString(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, "\\n")}"`;
}

/** The wrk script: POST `body` as JSON, and print one JSON line of results at the end. */
export function wrkScript(body: string): string {
  return `wrk.method = "POST"
wrk.body = ${luaString(body)}
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"p50_us":%.1f,"p99_us":%.1f,"errors":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
`;
}

/** Reads the line the wrk script prints. */
export function parseWrkOutput(out: string): LoadResult {
  const m = /^WRK_RESULT (\{.*\})$/m.exec(out);
  if (!m) throw new Error(`wrk printed no result:\n${out}`);
  const r = JSON.parse(m[1]) as {
    requests: number;
    duration_us: number;
    p50_us: number;
    p99_us: number;
    errors: number;
    non2xx: number;
  };
  const errors = r.errors + r.non2xx;
  return {
    rps: (r.requests - r.non2xx) / (r.duration_us / 1e6),
    p50Ms: r.p50_us / 1000,
    p99Ms: r.p99_us / 1000,
    errors,
    requests: r.requests,
  };
}

export class WrkLoad implements LoadGenerator {
  readonly name: string;
  readonly #bin: string;
  readonly #scripts = new Map<string, string>();
  readonly #dir: string;

  private constructor(bin: string, version: string, dir: string) {
    this.#bin = bin;
    this.name = version;
    this.#dir = dir;
  }

  /** wrk when it is installed, else null. */
  static async find(): Promise<WrkLoad | null> {
    const bin = findExecutable("wrk");
    if (!bin) return null;
    const out = await new Deno.Command(bin, { args: ["-v"], stdout: "piped", stderr: "piped" })
      .output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const version = /wrk \S+/.exec(text)?.[0] ?? "wrk";
    return new WrkLoad(bin, version, await Deno.makeTempDir({ prefix: "cortex-bench-wrk-" }));
  }

  async run(spec: LoadSpec): Promise<LoadResult> {
    let script = this.#scripts.get(spec.body);
    if (!script) {
      script = `${this.#dir}/post${this.#scripts.size}.lua`;
      await Deno.writeTextFile(script, wrkScript(spec.body));
      this.#scripts.set(spec.body, script);
    }
    // One wrk thread drives every connection: it leaves the other core to the servers.
    const out = await new Deno.Command(this.#bin, {
      args: [
        "-t1",
        `-c${spec.clients}`,
        `-d${spec.seconds}s`,
        "--timeout",
        "10s",
        "-s",
        script,
        spec.url,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return parseWrkOutput(dec.decode(out.stdout) + dec.decode(out.stderr));
  }

  async close(): Promise<void> {
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** The fallback: `clients` fetch loops in this process (fetch keeps connections alive). */
export class FetchLoad implements LoadGenerator {
  readonly name = "deno fetch loop (wrk not installed)";

  async run(spec: LoadSpec): Promise<LoadResult> {
    const latencies: number[] = [];
    let errors = 0;
    const start = performance.now();
    const end = start + spec.seconds * 1000;
    const client = async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const res = await fetch(spec.url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: spec.body,
          });
          await res.arrayBuffer();
          if (res.ok) latencies.push(performance.now() - t0);
          else errors++;
        } catch {
          errors++;
        }
      }
    };
    await Promise.all(Array.from({ length: spec.clients }, client));
    const elapsed = (performance.now() - start) / 1000;
    return {
      rps: latencies.length / elapsed,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      errors,
      requests: latencies.length + errors,
    };
  }
}
