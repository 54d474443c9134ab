// The cortex dashboard: one server-sent event stream (GET /cortex/events), read with fetch()
// so it can carry the API key as a bearer token, rendered with keyed plain-DOM updates.
"use strict";

(() => {
  const KEY = "cortex-api-key";
  const POINTS = 90;
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, cls) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    return e;
  };
  const setText = (e, t) => {
    if (e.textContent !== t) e.textContent = t;
  };
  const setAttr = (e, k, v) => {
    if (e.getAttribute(k) !== v) e.setAttribute(k, v);
  };
  const mib = (b) => b === null || b === undefined ? "–" : `${Math.round(b / 1048576)} MiB`;

  let state = { neurons: [], catalogue: [], queue: {} };
  let series = { t: [], models: {} };
  let events = [];
  /** model id → { progress, node } for loads this page started and has not yet seen land. */
  const pending = new Map();
  const charts = new Map();

  function authHeaders() {
    const k = sessionStorage.getItem(KEY);
    return k ? { authorization: `Bearer ${k}` } : {};
  }

  // --- the event stream ---------------------------------------------------------------

  let retry = 500;
  let current = null;
  async function connect() {
    current?.abort();
    const mine = current = new AbortController();
    const reconnect = (why) => {
      if (mine.signal.aborted) return;
      setConn(false, why);
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10_000);
    };
    let res;
    try {
      res = await fetch("/cortex/events", {
        headers: authHeaders(),
        cache: "no-store",
        signal: mine.signal,
      });
    } catch {
      return reconnect("gateway unreachable");
    }
    if (res.status === 401) {
      setConn(false, "needs a key");
      askKey(
        sessionStorage.getItem(KEY) ? "That key was refused." : "This gateway needs an API key.",
      );
      return;
    }
    if (!res.ok || !res.body) return reconnect(`HTTP ${res.status}`);
    setConn(true, "live");
    retry = 500;
    try {
      await readEvents(res, onEvent);
    } catch {
      // the stream broke: reconnect below
    }
    reconnect("disconnected");
  }

  /** Reads a server-sent event stream to its end, calling `on(event, data)` with parsed JSON. */
  async function readEvents(res, on) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const raw = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = "message";
        let data = "";
        for (const line of raw.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) on(event, JSON.parse(data));
      }
    }
  }

  function onEvent(event, msg) {
    if (event === "snapshot") {
      state = msg.state;
      series = msg.series;
      events = msg.events;
      schedule(true);
    } else if (event === "state") {
      state = msg;
      schedule(false);
    } else if (event === "events") {
      // A frame may repeat what a fresh snapshot already held.
      const have = new Set(events.map(eventKey));
      events.push(...msg.filter((e) => !have.has(eventKey(e))));
      if (events.length > 200) events.splice(0, events.length - 200);
      schedule(false);
    } else if (event === "sample") {
      series.t.push(msg.t);
      for (const [id, [ttft, tps, n]] of Object.entries(msg.models)) {
        const s = series.models[id] ??= {
          ttft_p50: series.t.slice(1).map(() => null),
          tps: series.t.slice(1).map(() => null),
          in_flight: series.t.slice(1).map(() => 0),
        };
        s.ttft_p50.push(ttft);
        s.tps.push(tps);
        s.in_flight.push(n);
      }
      if (series.t.length > POINTS) {
        series.t.shift();
        for (const s of Object.values(series.models)) {
          s.ttft_p50.shift();
          s.tps.shift();
          s.in_flight.shift();
        }
      }
      chartsDirty = true;
      schedule(false);
    }
  }

  // --- rendering: at most once a frame, keyed by id ------------------------------------

  let queued = false;
  let chartsDirty = true;
  function schedule(all) {
    if (all) chartsDirty = true;
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      render();
    });
  }

  /** Makes `parent`'s children match `items` in order, reusing the element of each key. */
  function sync(parent, items, keyOf, create, update) {
    const old = new Map();
    for (const c of parent.children) old.set(c.dataset.key, c);
    let prev = null;
    for (const item of items) {
      const k = keyOf(item);
      let e = old.get(k);
      if (e) old.delete(k);
      else {
        e = create(item);
        e.dataset.key = k;
      }
      update(e, item);
      const next = prev ? prev.nextSibling : parent.firstChild;
      if (next !== e) parent.insertBefore(e, next);
      prev = e;
    }
    for (const e of old.values()) e.remove();
  }

  function render() {
    const up = state.neurons.filter((n) => n.up).length;
    const loaded = state.catalogue.filter((c) => c.loaded_on.length).length;
    const waiting = Object.values(state.queue).reduce((a, b) => a + b, 0);
    setText(
      $("#summary"),
      `${up}/${state.neurons.length} neurons up · ${loaded} models loaded · ${waiting} requests queued`,
    );
    sync($("#neurons"), state.neurons, (n) => n.name, newNeuron, updateNeuron);
    for (const c of state.catalogue) if (c.loaded_on.length) pending.delete(c.id);
    sync($("#models tbody"), state.catalogue, (c) => c.id, newModelRow, updateModelRow);
    renderEvents();
    chartsDirty = false;
  }

  function newNeuron() {
    const s = el("section", "neuron");
    const h = el("header");
    h.append(el("h3", "name"), el("span", "badge"), el("span", "err"));
    const t = el("table");
    t.append(el("tbody"));
    s.append(h, el("div", "devices"), t);
    return s;
  }

  function updateNeuron(s, n) {
    setText(s.querySelector(".name"), n.name);
    const badge = s.querySelector(".badge");
    setText(badge, n.up ? "up" : "down");
    setAttr(badge, "data-up", String(n.up));
    setAttr(s, "data-up", String(n.up));
    setText(s.querySelector(".err"), n.error ?? "");
    sync(s.querySelector(".devices"), n.devices, (d) => d.name, newDevice, updateDevice);
    sync(s.querySelector("tbody"), n.models, (m) => m.id, newNeuronModel, updateNeuronModel);
  }

  function newDevice() {
    const d = el("div", "device");
    const bar = el("div", "bar");
    d.append(el("div", "label"), bar);
    return d;
  }

  function updateDevice(e, d) {
    // The bar spans what the neuron may use: its budget, else the whole device.
    const scale = Math.max(d.budget ?? d.total, 1);
    setText(
      e.querySelector(".label"),
      `${d.name}${d.state === "failed" ? " (failed)" : ""}: used ${mib(d.used)} · free ${
        mib(d.free)
      } · budget ${d.budget === null ? "whole device" : mib(d.budget)}`,
    );
    const models = d.models.reduce((a, m) => a + m.bytes, 0);
    const segs = d.models.map((m, i) => ({ key: `m:${m.id}`, label: m.id, bytes: m.bytes, i }));
    if (d.used > models) segs.push({ key: "other", label: "other", bytes: d.used - models, i: -1 });
    sync(e.querySelector(".bar"), segs, (s) => s.key, () => el("div", "seg"), (seg, s) => {
      seg.style.width = `${Math.min(100, 100 * s.bytes / scale).toFixed(2)}%`;
      seg.style.background = s.i < 0 ? "var(--muted)" : `var(--s${(s.i % 3) + 1})`;
      setAttr(seg, "title", `${s.label}: ${mib(s.bytes)}`);
    });
  }

  function newNeuronModel() {
    const tr = el("tr");
    tr.append(
      el("td", "id"),
      el("td", "state"),
      el("td", "mem"),
      el("td", "load"),
      el("td", "drafts"),
    );
    return tr;
  }

  function updateNeuronModel(tr, m) {
    setText(tr.querySelector(".id"), m.id);
    const st = tr.querySelector(".state");
    const progress = m.state === "loading" && m.progress !== null
      ? ` ${Math.round(m.progress * 100)}%`
      : "";
    setText(st, m.state + progress);
    setAttr(st, "class", `state state-${m.state}`);
    setAttr(st, "title", m.error ?? "");
    setText(tr.querySelector(".mem"), mib(m.memory_bytes));
    setText(tr.querySelector(".load"), `${m.in_flight} running · ${m.queued} waiting`);
    setText(tr.querySelector(".drafts"), drafts(m.speculation));
  }

  /** Speculative decoding: the mode and the share of drafted tokens the model accepted. */
  function drafts(s) {
    // Requests may draft on a model whose default is off: counts show whatever the default.
    if (!s || (s.mode === "off" && !s.drafted_tokens)) return "";
    const mode = s.mode === "ngram"
      ? "prompt lookup"
      : s.mode === "draft"
      ? "draft model"
      : "per request";
    if (!s.drafted_tokens) return `${mode}, none drafted yet`;
    const pct = Math.round((100 * s.accepted_tokens) / s.drafted_tokens);
    return `${mode}: ${pct}% of ${s.drafted_tokens} drafted tokens accepted`;
  }

  function newModelRow(c) {
    const tr = el("tr");
    const actions = el("td", "actions");
    const node = el("select", "node");
    const load = el("button", "load");
    load.type = "button";
    load.textContent = "Load";
    load.addEventListener("click", () => loadModel(c.id, node.value || undefined));
    const unload = el("button", "unload");
    unload.type = "button";
    unload.textContent = "Unload";
    unload.addEventListener("click", () => unloadModel(c.id));
    actions.append(node, load, unload);
    const chart = el("td", "chart");
    chart.append(el("div", "spark"), el("div", "spark-text"));
    tr.append(el("td", "id"), el("td", "status"), el("td", "inflight"), el("td", "queued"), chart);
    tr.append(actions);
    return tr;
  }

  function updateModelRow(tr, c) {
    setText(tr.querySelector(".id"), c.id);
    const status = tr.querySelector(".status");
    const p = pending.get(c.id);
    let text;
    let cls = "status";
    if (c.loaded_on.length) text = `loaded on ${c.loaded_on.join(", ")}`;
    else if (p) {
      text = `loading${p.progress === null ? "…" : ` ${Math.round(p.progress * 100)}%`}`;
      cls += " status-loading";
    } else if (c.loading_on.length) {
      text = `loading on ${c.loading_on.join(", ")}`;
      cls += " status-loading";
    } else text = `available on ${c.available_on.join(", ") || "–"}`;
    setText(status, text);
    setAttr(status, "class", cls);
    setText(tr.querySelector(".inflight"), String(c.in_flight));
    setText(tr.querySelector(".queued"), String(state.queue[c.id] ?? 0));
    const sel = tr.querySelector(".node");
    const opts = ["", ...c.available_on];
    if ([...sel.options].map((o) => o.value).join("\n") !== opts.join("\n")) {
      sel.replaceChildren(...opts.map((v) => {
        const o = el("option");
        o.value = v;
        o.textContent = v || "any neuron";
        return o;
      }));
    }
    tr.querySelector(".load").disabled = Boolean(p);
    tr.querySelector(".unload").disabled = !c.loaded_on.length;
    if (chartsDirty) updateChart(tr.querySelector(".chart"), c.id);
  }

  function updateChart(td, id) {
    const s = series.models[id];
    const has = s && (s.ttft_p50.some((x) => x !== null) || s.tps.some((x) => x !== null) ||
      s.in_flight.some((x) => x > 0));
    let chart = charts.get(id);
    // deno-lint-ignore no-undef
    if (!has || typeof uPlot === "undefined") {
      if (chart) {
        chart.destroy();
        charts.delete(id);
      }
      return;
    }
    const data = [series.t.map((t) => t / 1000), s.ttft_p50, s.tps, s.in_flight];
    if (!chart || !td.contains(chart.root)) {
      chart?.destroy();
      const css = getComputedStyle(document.documentElement);
      const color = (v) => css.getPropertyValue(v).trim();
      // deno-lint-ignore no-undef
      chart = new uPlot(
        {
          width: 220,
          height: 48,
          legend: { show: false },
          cursor: { show: false },
          scales: { x: { time: true }, ms: {}, tps: {}, n: {} },
          axes: [{ show: false }, { scale: "ms", show: false }],
          series: [
            {},
            { scale: "ms", stroke: color("--s1"), spanGaps: true },
            { scale: "tps", stroke: color("--s2"), spanGaps: true },
            { scale: "n", stroke: color("--s3") },
          ],
        },
        data,
        td.querySelector(".spark"),
      );
      charts.set(id, chart);
    } else chart.setData(data);
    const last = (xs) => {
      for (let i = xs.length - 1; i >= 0; i--) if (xs[i] !== null) return xs[i];
      return null;
    };
    const ttft = last(s.ttft_p50);
    const tps = last(s.tps);
    setText(
      td.querySelector(".spark-text"),
      `TTFT ${ttft === null ? "–" : `${Math.round(ttft)} ms`} · ${
        tps === null ? "–" : `${tps.toFixed(1)} tok/s`
      } · ${s.in_flight.at(-1) ?? 0} in flight`,
    );
  }

  const eventKey = (e) => `${e.at}:${e.kind}:${e.model}:${e.node}`;
  const EVENT_WORDS = { cold_load: "cold load", eviction: "eviction", swap: "swap" };
  function renderEvents() {
    const list = events.slice(-200).reverse();
    sync($("#events"), list, eventKey, () => {
      const li = el("li");
      li.append(el("time"), el("span"));
      return li;
    }, (li, e) => {
      setText(li.querySelector("time"), new Date(e.at).toLocaleTimeString());
      const what = e.kind === "swap"
        ? `swap on ${e.node}`
        : `${EVENT_WORDS[e.kind]} ${e.model} on ${e.node}${e.reason ? ` (${e.reason})` : ""}`;
      setText(li.querySelector("span"), what);
      setAttr(li, "data-kind", e.kind);
    });
  }

  // --- controls -----------------------------------------------------------------------

  async function post(path, body) {
    const res = await fetch(path, {
      method: "POST",
      headers: { ...authHeaders(), "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (res.ok) return res;
    let message = `HTTP ${res.status}`;
    try {
      message = (await res.json()).error?.message ?? message;
    } catch {
      // not JSON: keep the status
    }
    throw new Error(
      res.status === 403 ? `${message} — use “API key…” to enter an operator key` : message,
    );
  }

  async function loadModel(id, node) {
    pending.set(id, { progress: null });
    flash(null);
    schedule(false);
    try {
      const res = await post("/cortex/load", { model: id, node, stream: true });
      await readEvents(res, (ev, msg) => {
        if (ev === "progress" && pending.has(id)) pending.get(id).progress = msg.progress;
        if (ev === "error") throw new Error(msg.error?.message ?? "load failed");
        schedule(false);
      });
    } catch (e) {
      pending.delete(id);
      flash(`Loading ${id} failed: ${e.message}`);
      schedule(false);
    }
  }

  async function unloadModel(id) {
    flash(null);
    try {
      await post("/cortex/unload", { model: id });
    } catch (e) {
      flash(`Unloading ${id} failed: ${e.message}`);
    }
  }

  function flash(text) {
    const f = $("#flash");
    f.hidden = !text;
    setText(f, text ?? "");
  }

  function setConn(up, text) {
    const c = $("#conn");
    setText(c, text);
    setAttr(c, "data-up", String(up));
  }

  function askKey(message) {
    $("#keyform").hidden = false;
    setText($("#key-msg"), message);
    $("#key").focus();
  }

  $("#keyform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const k = $("#key").value.trim();
    if (k) sessionStorage.setItem(KEY, k);
    else sessionStorage.removeItem(KEY);
    $("#key").value = "";
    $("#keyform").hidden = true;
    connect();
  });
  $("#change-key").addEventListener("click", () => askKey("Keys are kept for this tab only."));

  connect();
})();
