import { assertEquals, assertMatch } from "../tests/assert.ts";
import { type Status, StatusSchema } from "../core/gateway/schemas.ts";
import { formatSpeculation, renderStatus } from "./status.ts";

const MiB = 1024 * 1024;
const NOW = 1_800_000_000_000;

const status: Status = StatusSchema.parse({
  neurons: [
    {
      name: "gpu-1",
      endpoint: "http://10.0.0.1:13131",
      up: true,
      last_seen: NOW - 2000,
      last_error: null,
      version: "0.1.0",
      devices: [{
        name: "CUDA0",
        description: "RTX",
        type: "gpu",
        state: "ok",
        error: null,
        memory_total_bytes: 24576 * MiB,
        memory_free_bytes: 16384 * MiB,
        memory_budget_bytes: null,
        memory_used_bytes: 8192 * MiB,
        temperature_c: null,
        utilization_percent: null,
      }],
      models: [
        {
          id: "qwen",
          state: "loaded",
          device: "CUDA0",
          memory_bytes: 8192 * MiB,
          in_flight: 3,
          queued: 2,
          progress: null,
          error: null,
          gateway_in_flight: 3,
          last_used: NOW,
          tokens_per_second: 41.25,
          speculation: {
            mode: "draft",
            draft: "qwen-0.6b",
            draft_max: 16,
            draft_min_p: 0,
            drafted_tokens: 1000,
            accepted_tokens: 734,
          },
        },
        {
          id: "llama",
          state: "loading",
          device: "CUDA0",
          memory_bytes: null,
          in_flight: 0,
          queued: 0,
          progress: 0.456,
          error: null,
          gateway_in_flight: 0,
          last_used: null,
          tokens_per_second: null,
        },
      ],
      load_cycles: 4,
    },
    {
      name: "gpu-2",
      endpoint: "http://10.0.0.2:13131",
      up: false,
      last_seen: null,
      last_error: "connection refused",
      version: null,
      devices: [],
      models: [],
      load_cycles: 0,
    },
  ],
  catalogue: [],
});

Deno.test("renderStatus shows neurons up and down, device memory, models with load and speed", () => {
  const text = renderStatus(status, NOW);
  const lines = text.split("\n");
  assertEquals(lines[0], "NEURONS (1 of 2 up)");
  assertMatch(text, /^gpu-1\s+up\s+http:\/\/10\.0\.0\.1:13131\s+0\.1\.0\s+2s ago\s+-$/m);
  assertMatch(
    text,
    /^gpu-2\s+down\s+http:\/\/10\.0\.0\.2:13131\s+-\s+never\s+connection refused$/m,
  );
  assertMatch(text, /^gpu-1\s+CUDA0\s+gpu\s+ok\s+8\.0 GiB \(33%\)\s+24\.0 GiB\s+16\.0 GiB$/m);
  assertMatch(
    text,
    /^gpu-1\s+qwen\s+loaded\s+CUDA0\s+8\.0 GiB\s+3\s+2\s+41\.3\s+draft 73% of 1000$/m,
  );
  assertMatch(text, /^gpu-1\s+llama\s+loading 45%\s+CUDA0\s+-\s+0\s+0\s+-\s+-$/m);
});

Deno.test("renderStatus says so when nothing is loaded", () => {
  const empty = StatusSchema.parse({ neurons: [], catalogue: [] });
  assertEquals(
    renderStatus(empty, NOW),
    "NEURONS (0 of 0 up)\nNAME  STATE  ENDPOINT  VERSION  LAST SEEN  LAST ERROR\n\n" +
      "DEVICES\nnone reported\n\nMODELS\nnone loaded",
  );
});

Deno.test("renderStatus shows a split model on each of its devices, with its layers and share", () => {
  const split = StatusSchema.parse({
    neurons: [{
      ...status.neurons[0],
      models: [{
        ...status.neurons[0].models[0],
        id: "big",
        device: "CPU",
        memory_bytes: 30 * 1024 * MiB,
        split: {
          mode: "layer",
          shares: [
            { device: "CPU", layers: 30, memory_bytes: 18 * 1024 * MiB },
            { device: "RPC0", layers: 50, memory_bytes: 12 * 1024 * MiB },
          ],
        },
      }],
    }],
    catalogue: [],
  });
  const text = renderStatus(split, NOW);
  assertMatch(
    text,
    /^gpu-1\s+big\s+loaded\s+CPU \(layer split, 30\/80 layers\)\s+18\.0 GiB\s+3\s+2/m,
  );
  assertMatch(
    text,
    /^gpu-1\s+big\s+loaded\s+RPC0 \(layer split, 50\/80 layers\)\s+12\.0 GiB\s+3\s+2/m,
  );
});

Deno.test("formatSpeculation: counts show even where the model's default is off", () => {
  const model = status.neurons[0].models[0];
  const cell = (mode: "off" | "ngram", drafted: number, accepted: number) =>
    formatSpeculation({
      ...model,
      speculation: {
        mode,
        draft: null,
        draft_max: 16,
        draft_min_p: 0,
        drafted_tokens: drafted,
        accepted_tokens: accepted,
      },
    });
  assertEquals(cell("off", 0, 0), "-");
  // Requests asked for prompt lookup on a model loaded without a default (it read "-").
  assertEquals(cell("off", 200, 50), "per request 25% of 200");
  assertEquals(cell("ngram", 0, 0), "ngram, none drafted");
  assertEquals(formatSpeculation({ ...model, speculation: null }), "-");
});
