/**
 * `cortex load` progress as a person sees it: a cli-progress bar in a
 * terminal (a pseudo-terminal from util-linux `script`), plain percentage
 * lines in a pipe. The bench-size fixture takes long enough to load that
 * the neuron reports many progress steps.
 */

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import { makeStore, type Spawned, spawnServer, writeConfig } from "../helpers/processes.ts";
import { runCortex, runCortexInTerminal } from "./cli_process.ts";

let gateway: Spawned | undefined;
let store = "";

async function setup(): Promise<Spawned> {
  if (gateway) return gateway;
  store = await makeStore({ big: await ensureFixture(FIXTURES.bench) });
  const neuron = await writeConfig(
    "neuron.toml",
    `model_dirs = ["${store}"]
slots = 1
context = 256
n_threads = 1
memory_budget_mb = { CPU = 400 }
`,
  );
  const cortex = await writeConfig(
    "cortex.toml",
    `[gateway]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
poll_interval = "300ms"
[embedded]
neuron_config = "${neuron}"
`,
  );
  gateway = await spawnServer("cli/cortex.ts", cortex);
  return gateway;
}

function itest(name: string, fn: (url: string) => Promise<void>) {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => fn((await setup()).url),
  });
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g;

itest("in a terminal, load draws a progress bar from 0% to 100%", async (url) => {
  const r = await runCortexInTerminal(["--url", url, "load", "big"]);
  assertEquals(r.code, 0, r.stdout + r.stderr);
  // cli-progress redraws in place: cursor moves and line clears between frames.
  assert(r.stdout.includes("\x1b["), "the bar redraws with terminal escapes");
  const frames = r.stdout.replace(ANSI, "\n").split(/[\r\n]+/).map((l) => l.trim()).filter(Boolean);
  const bars = frames.filter((f) => /^loading big [█░]{30} +\d+% *$/.test(f));
  assert(bars.length >= 2, `bar frames: ${JSON.stringify(frames)}`);
  assertMatch(bars[0], /^loading big ░{30}\s+0%/);
  assertMatch(bars.at(-1)!, /^loading big █{30} 100%/);
  assert(!frames.some((f) => /^loading big: \d+%/.test(f)), "no plain lines in a terminal");
  assertMatch(frames.at(-1)!, /^loaded big on local in \d+\.\d+ s$/);
});

itest("in a pipe, the same load prints plain percentage lines", async (url) => {
  const un = await runCortex(["--url", url, "unload", "big"]);
  assertEquals(un.code, 0, un.stderr);
  const r = await runCortex(["--url", url, "load", "big"]);
  assertEquals(r.code, 0, r.stderr);
  assert(!r.stdout.includes("\x1b") && !/[█░]/.test(r.stdout), "no bar, no escapes");
  const lines = r.stdout.trimEnd().split("\n");
  const pct = lines.slice(0, -1).map((l) => {
    const m = /^loading big: (\d{1,3})%$/.exec(l);
    assert(m, `unexpected line ${JSON.stringify(l)}`);
    return Number(m[1]);
  });
  // A line per 10% step, rising, from the start to the end.
  assert(pct.length >= 5, `lines: ${JSON.stringify(lines)}`);
  assertEquals([pct[0], pct.at(-1)], [0, 100]);
  assert(pct.every((p, i) => i === 0 || Math.floor(p / 10) > Math.floor(pct[i - 1] / 10)));
  assertMatch(lines.at(-1)!, /^loaded big on local in \d+\.\d+ s$/);
});

Deno.test({
  name: "stop the gateway",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await gateway?.stop();
    if (store) await Deno.remove(store, { recursive: true });
  },
});
