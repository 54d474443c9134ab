/**
 * The dashboard in a real browser: headless Chromium (tests/helpers/browser.ts) against a live
 * gateway with two real neurons. Every wait is on a DOM condition; the page's own clock stamps
 * when a model's row changed, so "within 2 s of the neuron finishing" is measured, not slept.
 * A screenshot lands in tests/.artifacts/ (ignored by git).
 */

import { assert, assertEquals } from "../assert.ts";
import { type BrowserPage, launchBrowser } from "../helpers/browser.ts";
import { fleetTests, waitFor } from "./harness.ts";

const ARTIFACTS = new URL("../.artifacts/", import.meta.url).pathname;
const POLL_MS = 200;
const DOWN_AFTER_MS = 600;

const { test, stop } = fleetTests({
  neurons: [
    { name: "n1", store: { alpha: "plain" }, preload: { alpha: "alpha" } },
    { name: "n2", store: { beta: "plain", gamma: "llama3" }, preload: { beta: "beta" } },
  ],
  gateway: { poll_interval: `${POLL_MS}ms`, down_after: `${DOWN_AFTER_MS}ms` },
});

const browser = launchBrowser();
let page: BrowserPage;

const q = (sel: string) => JSON.stringify(sel);
/** The text of the first element matching `sel`, or null. */
const text = (sel: string) => `(document.querySelector(${q(sel)})?.textContent ?? null)`;

test("the dashboard lists both neurons and their models", async (f) => {
  page = (await browser).page;
  await page.goto(`${f.url}/`);
  assertEquals(await page.evaluate("location.pathname"), "/dashboard");
  for (const n of ["n1", "n2"]) {
    await page.waitFor(`${n} up`, `${text(`.neuron[data-key="${n}"] .badge`)} === "up"`);
  }
  await page.waitFor(
    "alpha on n1",
    `${text(`.neuron[data-key="n1"] tr[data-key="alpha"] .state`)} === "loaded"`,
  );
  await page.waitFor(
    "beta on n2",
    `${text(`.neuron[data-key="n2"] tr[data-key="beta"] .state`)} === "loaded"`,
  );
  await page.waitFor(
    "gamma in the catalogue",
    `${text(`#models tr[data-key="gamma"] .status`)} === "available on n2"`,
  );
  // Each device shows its memory split by model.
  await page.waitFor(
    "alpha's share of n1's memory",
    `document.querySelector('.neuron[data-key="n1"] .bar [data-key="m:alpha"]')`,
  );
  assertEquals(await page.evaluate(text("#conn")), "live");
});

test("loading from the page shows loading, then loaded within 2 s of the neuron", async (f) => {
  // The page stamps each text the status cell takes (its own clock: the same machine's).
  await page.evaluate(`(() => {
    const status = () => document.querySelector('#models tr[data-key="gamma"] .status');
    window.seen = [];
    new MutationObserver(() => {
      const t = status()?.textContent ?? "(no row)";
      if (window.seen.at(-1)?.[0] !== t) window.seen.push([t, Date.now()]);
    }).observe(document.querySelector("#models tbody"), {
      childList: true,
      characterData: true,
      subtree: true,
    });
    document.querySelector('#models tr[data-key="gamma"] .load').click();
  })()`);
  const neuronDone = await waitFor(
    "gamma loaded on n2",
    async () => {
      const m = await f.neurons.n2.model("gamma");
      return m?.state === "loaded" ? Date.now() : 0;
    },
    60_000,
    20,
  );
  await page.waitFor(
    "gamma loaded on the page",
    `${text(`#models tr[data-key="gamma"] .status`)} === "loaded on n2"`,
  );
  const seen = await page.evaluate<[string, number][]>("window.seen");
  const loading = seen.findIndex(([t]) => t.startsWith("loading"));
  const loaded = seen.findIndex(([t]) => t === "loaded on n2");
  assert(loading >= 0 && loading < loaded, `status went ${JSON.stringify(seen)}`);
  const lag = seen[loaded][1] - neuronDone;
  assert(lag < 2000, `the page showed it ${lag} ms after the neuron finished`);
  // The cold load is in the event list.
  await page.waitFor(
    "the cold load event",
    `[...document.querySelectorAll('#events li[data-kind="cold_load"]')]
      .some((li) => li.textContent.includes("gamma on n2"))`,
  );
});

test("a killed neuron turns down on the page within the poll interval", async (f) => {
  const t0 = Date.now();
  await f.neurons.n1.proc.kill();
  await page.waitFor(
    "n1 down",
    `${text(`.neuron[data-key="n1"] .badge`)} === "down"`,
    10_000,
  );
  const took = Date.now() - t0;
  // Down means failing for down_after; the poll that sees it comes within one interval, and
  // the stream coalesces updates to at most one per 250 ms.
  const bound = DOWN_AFTER_MS + POLL_MS + 250 + 1000;
  assert(took < bound, `n1 showed down after ${took} ms (bound ${bound} ms)`);
  assertEquals(await page.evaluate(text(`.neuron[data-key="n2"] .badge`)), "up");
});

test("no console errors; a screenshot is written", async () => {
  await page.screenshot(`${ARTIFACTS}dashboard.png`);
  const stat = await Deno.stat(`${ARTIFACTS}dashboard.png`);
  assert(stat.size > 1000, "the screenshot is empty");
  assertEquals(page.errors, []);
});

stop();

Deno.test({
  name: "close the browser",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => await (await browser).close(),
});
