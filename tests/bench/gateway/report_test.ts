import { assert, assertEquals, assertMatch } from "../../assert.ts";
import type { LoadResult } from "./load.ts";
import {
  type GatewayBenchResult,
  markdownTable,
  ms,
  renderReport,
  type StreamFigures,
  streamFigures,
  type WholeFigures,
} from "./report.ts";
import { emptyTally } from "./stream_client.ts";

const stream = (ttftP50Ms: number, proxyCpuUs: number, completed = 4): StreamFigures => ({
  streams: 4,
  completed,
  failures: completed < 4 ? { "status 502": 4 - completed } : {},
  events: 2000,
  connectP99Ms: 0.2,
  ttftP50Ms,
  ttftP99Ms: ttftP50Ms * 2,
  arrivalTtftP50Ms: ttftP50Ms / 2,
  arrivalTtftP99Ms: ttftP50Ms,
  gapP99Ms: 21,
  gapMaxMs: 40,
  stalls: 0,
  proxyCpuUs,
  backendCpuUs: 5,
  clientCpuUs: 6,
  rssMiB: { before: 80, peak: 200, after: 120 },
});
const load = (rps: number, p50Ms: number): LoadResult => ({
  rps,
  p50Ms,
  p99Ms: p50Ms * 3,
  errors: 0,
  requests: rps * 2,
});
const whole = (rps: number, cpuUs: number): WholeFigures => ({
  one: load(1000, 0.1),
  many: load(rps, 5),
  cpuUs,
});

function result(over: Partial<GatewayBenchResult> = {}): GatewayBenchResult {
  return {
    command: "deno task bench gateway",
    backend: "canned",
    client: "raw sockets",
    nginx: "nginx/1.22.1, 1 worker",
    nginxMissing: null,
    rounds: 3,
    settleS: 10,
    streams: [{
      n: 4,
      peers: {
        direct: [stream(1, NaN), stream(2, NaN), stream(3, NaN)],
        gateway: [stream(2, 30), stream(9, 20, 3), stream(4, 25)],
        nginx: [stream(2, 10), stream(2, 10), stream(2, 10)],
      },
    }],
    whole: { loadGenerator: "wrk 4.1.0", clients: 64, seconds: 2 },
    wholeFigures: {
      direct: [whole(20000, NaN)],
      gateway: [whole(8000, 60)],
      nginx: [whole(16000, 20)],
    },
    notes: ["load average before: 1"],
    wallS: 600,
    ...over,
  };
}

Deno.test("streamFigures: percentiles of the tally, CPU per event read, RSS in MiB", () => {
  const t = emptyTally();
  t.streams = 2;
  t.completed = 2;
  t.events = 1000;
  for (const v of [20, 20, 20, 150]) t.gaps.add(v);
  t.ttft.add(3);
  t.arrivalTtft.add(7);
  t.stalls = 1;
  const f = streamFigures(t, { proxy: 25, backend: null, clients: 5 }, {
    before: 1024,
    peak: 4096,
    after: NaN,
  });
  assertEquals([f.proxyCpuUs, f.backendCpuUs, f.clientCpuUs], [25, NaN, 5]);
  assertEquals([f.gapMaxMs, f.gapP99Ms, f.stalls], [150, 150, 1]);
  assert(f.ttftP50Ms >= 3 && f.ttftP50Ms < 3.1);
  assert(f.arrivalTtftP99Ms >= 7 && f.arrivalTtftP99Ms < 7.1);
  assertEquals(f.rssMiB, { before: 1, peak: 4, after: NaN });
  // Nothing read, no arrivals: no CPU per event and no arrival TTFT, rather than 0.
  const none = streamFigures(emptyTally(), { proxy: 1, backend: 1, clients: 1 }, {
    before: NaN,
    peak: NaN,
    after: NaN,
  });
  assertEquals([none.proxyCpuUs, none.arrivalTtftP50Ms], [NaN, NaN]);
});

Deno.test("renderReport: medians per N, sums of failures, ratios vs nginx, RSS and wrk tables", () => {
  const text = renderReport(result());
  assertMatch(text, /^bench gateway: `deno task bench gateway` \(10\.0 min\)$/m);
  assertMatch(text, /^\| 4 +\| TTFT p50 ms, burst +\| 2\.00 +\| 4\.00 +\| 2\.00 +\| 2\.00× +\|$/m);
  assertMatch(text, /^\| +\| TTFT p99 ms, arriving +\| 2\.00 +\| 4\.00 +\| 2\.00 +\| 2\.00× +\|$/m);
  assertMatch(text, /^\| +\| proxy CPU µs\/event +\| – +\| 25\.0 +\| 10\.0 +\| 2\.50× +\|$/m);
  assertMatch(
    text,
    /^\| +\| completed \/ failed \(3 rounds\) +\| 12 \/ 0 +\| 11 \/ 1 +\| 12 \/ 0 +\| +\|$/m,
  );
  assertMatch(text, /^\| peak, 4 streams open +\| 200 +\| 200 +\|$/m);
  assertMatch(text, /^\| 10 s after they end +\| 120 +\| 120 +\|$/m);
  assertMatch(text, /^\| 64 clients, req\/s +\| 20000 +\| 8000 +\| 16000 +\| 0\.50× +\|$/m);
  assertMatch(text, /nginx\/1\.22\.1 \|/);
  assertMatch(text, /^- load average before: 1$/m);
});

Deno.test("renderReport without nginx or wrk leaves their columns and table out", () => {
  const r = result({ nginx: null, nginxMissing: "not installed", whole: null, wholeFigures: {} });
  for (const s of r.streams) delete s.peers.nginx;
  const text = renderReport(r);
  assert(!text.includes("gateway/nginx"));
  assert(!text.includes("whole answers"));
  assertMatch(text, /^nginx: not measured: not installed$/m);
  assertMatch(text, /^\| proxy RSS MiB, N = 4 \| gateway \|$/m);
});

Deno.test("renderReport: the bare relay is a column of its own, beside the gateway", () => {
  const r = result();
  r.streams[0].peers.relay = [stream(1, 12), stream(1, 14), stream(1, 13)];
  const text = renderReport(r);
  assertMatch(
    text,
    /^\| N +\| figure +\| direct +\| bare relay +\| gateway +\| nginx\/1\.22\.1 +\|/m,
  );
  assertMatch(
    text,
    /^\| +\| proxy CPU µs\/event +\| – +\| 13\.0 +\| 25\.0 +\| 10\.0 +\| 2\.50× +\|$/m,
  );
  assertMatch(text, /^\| proxy RSS MiB, N = 4 +\| relay +\| gateway +\| nginx +\|$/m);
});

Deno.test("markdownTable pads columns as deno fmt does; ms picks its precision", () => {
  assertEquals(
    markdownTable(["a", "bb"], [["1", "longer"], ["", "x"]]),
    "| a   | bb     |\n| --- | ------ |\n| 1   | longer |\n|     | x      |",
  );
  assertEquals([ms(1.234), ms(12.34), ms(123.4), ms(NaN)], ["1.23", "12.3", "123", "–"]);
});
