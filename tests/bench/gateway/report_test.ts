import { assert, assertEquals, assertMatch } from "../../assert.ts";
import type { LoadResult } from "./load.ts";
import { renderReport, type RoundFigures, summarize, verdict } from "./report.ts";
import type { StreamResult } from "./stream_client.ts";

const load = (rps: number, p50Ms: number): LoadResult => ({
  rps,
  p50Ms,
  p99Ms: p50Ms * 3,
  errors: 0,
  requests: rps * 2,
});
const streams = (ttftP50Ms: number): StreamResult => ({
  streamsPerS: 10,
  ttftP50Ms,
  ttftP99Ms: ttftP50Ms * 2,
  gapP50Ms: 1,
  gapP99Ms: 2,
  tokensPerStream: 32,
  errors: 0,
});
const figures = (wholeRps: number, streamRps: number, p50Ms: number): RoundFigures => ({
  whole1: load(1000, p50Ms),
  wholeN: load(wholeRps, 10),
  streamN: load(streamRps, 100),
  stream1: streams(p50Ms),
  streamLatN: streams(20),
  cpuUs: { whole1: 100, wholeN: 100, streamN: 1000 },
});

const base = {
  backend: "canned",
  loadGenerator: "wrk",
  rounds: 3,
  seconds: 1,
  clients: 64,
  notes: [],
};

Deno.test("summarize: added latency is the median per-round difference, throughput vs nginx", () => {
  const r = summarize({
    ...base,
    nginx: "nginx/1.22",
    nginxMissing: null,
    figures: {
      direct: [figures(9000, 400, 0.1), figures(9000, 400, 0.2), figures(9000, 400, 0.1)],
      gateway: [figures(1000, 300, 0.5), figures(1200, 300, 2.0), figures(1100, 300, 0.4)],
      nginx: [figures(4000, 350, 0.2), figures(4000, 350, 0.2), figures(4000, 350, 0.2)],
    },
  });
  const [added, ttft, whole, stream] = r.targets;
  assertEquals(Number(added.value.toFixed(3)), 0.4); // median of 0.4, 1.8, 0.3
  assertEquals(verdict(added), "PASS");
  assertEquals(verdict(ttft), "PASS");
  assertEquals(whole.value, 1100 / 4000);
  assertEquals(verdict(whole), "FAIL");
  assertEquals(Number(stream.value.toFixed(3)), Number((300 / 350).toFixed(3)));
  assertEquals(verdict(stream), "PASS");
  assertEquals(r.medians.gateway?.["whole, 64 clients: req/s"], 1100);
  const text = renderReport(r);
  assertMatch(text, /FAIL\s+throughput vs nginx, whole answers, 64 clients: 0\.28×/);
  assertMatch(text, /gw\/nginx/);
});

Deno.test("without nginx the throughput targets say why they have no figure", () => {
  const r = summarize({
    ...base,
    nginx: null,
    nginxMissing: "not installed (Debian: apt-get install nginx)",
    figures: { direct: [figures(9000, 400, 0.1)], gateway: [figures(1000, 300, 1.5)] },
  });
  assertEquals(verdict(r.targets[0]), "FAIL");
  assertEquals(verdict(r.targets[2]), "n/a");
  const text = renderReport(r);
  assertMatch(
    text,
    /n\/a\s+throughput vs nginx, whole answers, 64 clients: nginx not installed \(Debian/,
  );
  assert(!text.includes("gw/nginx"));
  assertMatch(text, /^nginx: not measured: not installed/m);
});
