/**
 * The stream client: opens `streams` connections at once, POSTs a streamed chat completion
 * on each and reads it to the end, timing events as they are read; optionally more streams
 * that arrive one at a time while those are open, whose first token is timed apart. It
 * speaks HTTP/1.1 on raw sockets (http_reader.ts) and counts events by their bytes
 * (events.ts), so 1,024 streams of 50 events/s cost it little; the bench runs it in
 * processes of its own (client_pool.ts).
 *
 * As a process: `deno run --allow-net stream_client.ts` prints `ready`, then answers each
 * line of JSON (a StreamSpec) on stdin with one line of JSON (a StreamTally) on stdout.
 */

import { SseEventCounter } from "./events.ts";
import { postRequest, ResponseReader } from "./http_reader.ts";
import { Histogram } from "./stats.ts";

export interface StreamSpec {
  url: string;
  body: string;
  streams: number;
  /** Events a whole stream carries at least (the bench's content events + role, finish, [DONE]). */
  minEvents: number;
  /** A gap this long or longer counts as a stall. */
  stallMs: number;
  /** Streams still open after this long are cut and count as failed. */
  timeoutMs: number;
  /**
   * Streams that arrive one at a time while the others are open, as a new agent turn does:
   * the first `afterMs` after the burst was sent, then one every `everyMs`. Each posts its
   * own `body` (a shorter answer) and must carry `minEvents`; they count among the streams,
   * and their TTFT is tallied apart (`arrivalTtft`).
   */
  arrivals?: Arrivals;
}

export interface Arrivals {
  count: number;
  afterMs: number;
  everyMs: number;
  body: string;
  minEvents: number;
}

/** What the streams of one StreamSpec measured; merged across processes by mergeTallies. */
export interface StreamTally {
  streams: number;
  completed: number;
  /** Failed streams by reason: "status 502", "cut short", "connect", "timeout", ... */
  failures: Record<string, number>;
  /** Events read, all streams. */
  events: number;
  /** Connect time; TTFT, from writing the request to the first content event. */
  connect: Histogram;
  ttft: Histogram;
  /** TTFT of the streams that arrived while the others were open. */
  arrivalTtft: Histogram;
  /** Time between consecutive events as read (0 for events that came in one read). */
  gaps: Histogram;
  stalls: number;
}

export function emptyTally(): StreamTally {
  return {
    streams: 0,
    completed: 0,
    failures: {},
    events: 0,
    connect: new Histogram(),
    ttft: new Histogram(),
    arrivalTtft: new Histogram(),
    gaps: new Histogram(),
    stalls: 0,
  };
}

export function mergeTallies(tallies: StreamTally[]): StreamTally {
  const out = emptyTally();
  for (const t of tallies) {
    out.streams += t.streams;
    out.completed += t.completed;
    for (const [k, v] of Object.entries(t.failures)) out.failures[k] = (out.failures[k] ?? 0) + v;
    out.events += t.events;
    out.connect.merge(t.connect);
    out.ttft.merge(t.ttft);
    out.arrivalTtft.merge(t.arrivalTtft);
    out.gaps.merge(t.gaps);
    out.stalls += t.stalls;
  }
  return out;
}

/** A tally as JSON text (histograms sparse) and back. */
export const tallyToJson = (t: StreamTally): string => JSON.stringify(t);
export function tallyFromJson(text: string): StreamTally {
  const j = JSON.parse(text);
  return {
    ...j,
    connect: Histogram.fromJSON(j.connect),
    ttft: Histogram.fromJSON(j.ttft),
    arrivalTtft: Histogram.fromJSON(j.arrivalTtft),
    gaps: Histogram.fromJSON(j.gaps),
  };
}

/**
 * The first event of an OpenAI-style stream is the role delta, sent before any token; the
 * first content event is the second one.
 */
const FIRST_CONTENT_EVENT = 2;

/** Runs the spec's streams, all opened together (then its arrivals), and tallies them. */
export async function runStreams(spec: StreamSpec): Promise<StreamTally> {
  const tally = emptyTally();
  const arrivals = spec.arrivals;
  tally.streams = spec.streams + (arrivals?.count ?? 0);
  const url = new URL(spec.url);
  const request = postRequest(url, spec.body);
  const open = new Set<Deno.Conn>();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    for (const c of open) c.close();
    open.clear();
  }, spec.timeoutMs);
  const fail = (why: string) => {
    tally.failures[why] = (tally.failures[why] ?? 0) + 1;
  };

  const one = async (request: Uint8Array, minEvents: number, ttft: Histogram) => {
    const t0 = performance.now();
    let conn: Deno.Conn;
    try {
      conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) || 80 });
    } catch {
      return fail("connect");
    }
    if (timedOut) {
      conn.close();
      return fail("timeout");
    }
    open.add(conn);
    const sent = performance.now();
    tally.connect.add(sent - t0);
    const counter = new SseEventCounter();
    let now = 0;
    let lastEventAt = 0;
    const reader = new ResponseReader((buf, start, end) => {
      const n = counter.push(buf, start, end);
      if (!n) return;
      const before = counter.events - n;
      if (before < FIRST_CONTENT_EVENT && counter.events >= FIRST_CONTENT_EVENT) {
        ttft.add(now - sent);
      }
      if (before > 0) {
        const gap = now - lastEventAt;
        tally.gaps.add(gap);
        if (gap >= spec.stallMs) tally.stalls++;
      }
      for (let i = 1; i < n; i++) tally.gaps.add(0);
      lastEventAt = now;
    });
    const buf = new Uint8Array(16 * 1024);
    let eof = false;
    try {
      await writeAll(conn, request);
      while (!reader.ended) {
        const r = await conn.read(buf);
        if (r === null) {
          eof = true;
          break;
        }
        now = performance.now();
        reader.push(buf, r);
        if (reader.status && reader.status !== 200) break;
      }
    } catch (e) {
      if (!timedOut) {
        tally.events += counter.events;
        return fail(e instanceof Deno.errors.ConnectionReset ? "reset" : "read error");
      }
    } finally {
      if (open.delete(conn)) conn.close();
    }
    tally.events += counter.events;
    if (reader.status && reader.status !== 200) return fail(`status ${reader.status}`);
    if (timedOut && !reader.ended) return fail("timeout");
    const whole = (reader.ended || eof) && counter.endedWithDone &&
      counter.events >= minEvents;
    if (whole) tally.completed++;
    else fail("cut short");
  };

  const burst = Array.from(
    { length: spec.streams },
    () => one(request, spec.minEvents, tally.ttft),
  );
  const late: Promise<void>[] = [];
  if (arrivals) {
    const lateRequest = postRequest(url, arrivals.body);
    for (let i = 0; i < arrivals.count && !timedOut; i++) {
      await sleep(i === 0 ? arrivals.afterMs : arrivals.everyMs);
      late.push(one(lateRequest, arrivals.minEvents, tally.arrivalTtft));
    }
  }
  try {
    await Promise.all([...burst, ...late]);
  } finally {
    clearTimeout(timer);
  }
  return tally;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** The process: one StreamSpec per stdin line, one StreamTally per stdout line. */
async function serveStdin(): Promise<void> {
  const enc = new TextEncoder();
  const out = (line: string) => Deno.stdout.write(enc.encode(line + "\n"));
  await out("ready");
  let pending = "";
  for await (const text of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    pending += text;
    for (let nl = pending.indexOf("\n"); nl !== -1; nl = pending.indexOf("\n")) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (!line) continue;
      try {
        await out(tallyToJson(await runStreams(JSON.parse(line))));
      } catch (e) {
        await out(JSON.stringify({ error: String(e) }));
      }
    }
  }
}

if (import.meta.main) await serveStdin();
