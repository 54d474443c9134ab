/**
 * The dashboard's server side: the page and uPlot served without a key and without any key in
 * them, `GET /cortex/events` behind the API key (a snapshot first), fleet changes behind the
 * operator key, and the page in headless Chromium asking for the key and showing a 403. The
 * gateway runs in this process in front of a stand-in neuron.
 */

import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { gatewayOver, serveStandIn } from "../helpers/stand_in_neuron.ts";

const API_KEY = "dash-api-key-4711";
const ADMIN_KEY = "dash-admin-key-0815";

Deno.test({
  name: "the page needs no key and holds none; events need an API key, loads an operator key",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const standIn = serveStandIn({ model: "m" });
    const gw = await gatewayOver({ s: standIn }, {
      gateway: `poll_interval = "100ms"`,
      auth: `api_keys = ["${API_KEY}"]\nadmin_keys = ["${ADMIN_KEY}"]`,
    });
    try {
      const root = await fetch(`${gw.url}/`, { redirect: "manual" });
      await root.body?.cancel();
      assertEquals(root.status, 302);
      assertEquals(root.headers.get("location"), "/dashboard");
      for (const path of ["/dashboard", "/dashboard/app.js", "/dashboard/app.css"]) {
        const res = await fetch(`${gw.url}${path}`);
        const body = await res.text();
        assertEquals(res.status, 200, path);
        assert(!body.includes(API_KEY) && !body.includes(ADMIN_KEY), `${path} holds a key`);
      }
      const uplot = await fetch(`${gw.url}/dashboard/uplot.js`);
      assertEquals(uplot.status, 200);
      assertStringIncludes(await uplot.text(), "uPlot");
      const css = await fetch(`${gw.url}/dashboard/uplot.css`);
      assertStringIncludes(css.headers.get("content-type") ?? "", "text/css");
      await css.body?.cancel();

      const anon = await fetch(`${gw.url}/cortex/events`);
      await anon.body?.cancel();
      assertEquals(anon.status, 401);

      const ctl = new AbortController();
      const events = await fetch(`${gw.url}/cortex/events`, {
        headers: { authorization: `Bearer ${API_KEY}` },
        signal: ctl.signal,
      });
      assertEquals(events.status, 200);
      assertEquals(events.headers.get("content-type"), "text/event-stream");
      const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("\n\n")) text += (await reader.read()).value ?? "";
      const [head, data] = text.slice(0, text.indexOf("\n\n")).split("\n");
      assertEquals(head, "event: snapshot");
      const snap = JSON.parse(data.slice("data: ".length));
      assertEquals(snap.state.neurons.map((n: { name: string }) => n.name), ["s"]);
      assertEquals(snap.series.t, []);
      ctl.abort();
      await reader.cancel().catch(() => {});

      const load = await fetch(`${gw.url}/cortex/load`, {
        method: "POST",
        headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "m" }),
      });
      assertEquals(load.status, 403);
      assertStringIncludes((await load.json()).error.message, "admin_keys");

      // In the browser: the page asks for the key, keeps it for the tab, shows a 403 plainly.
      const browser = await launchBrowser();
      try {
        const { page } = browser;
        await page.goto(`${gw.url}/dashboard`);
        await page.waitFor("the key form", `!document.querySelector("#keyform").hidden`);
        await page.evaluate(`(() => {
          document.querySelector("#key").value = ${JSON.stringify(API_KEY)};
          document.querySelector("#keyform").requestSubmit();
        })()`);
        await page.waitFor("live", `document.querySelector("#conn").textContent === "live"`);
        assertEquals(await page.evaluate(`sessionStorage.getItem("cortex-api-key")`), API_KEY);
        await page.waitFor("m's row", `document.querySelector('#models tr[data-key="m"] .load')`);
        await page.evaluate(`document.querySelector('#models tr[data-key="m"] .load').click()`);
        const shown = await page.waitFor<string>(
          "the 403 message",
          `!document.querySelector("#flash").hidden && document.querySelector("#flash").textContent`,
        );
        assertStringIncludes(shown, "needs an operator key ([auth] admin_keys)");
        // The unauthenticated first attempt and the refused load are the only failed requests.
        assertEquals(
          page.errors.filter((e) => !/status of (401|403)/.test(e)),
          [],
        );
      } finally {
        await browser.close();
      }
    } finally {
      await gw.shutdown(1000);
      await standIn.close();
    }
  },
});
