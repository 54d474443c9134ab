/**
 * Headless Chromium (Debian's `chromium`, or `$CHROMIUM`) driven over the
 * DevTools protocol directly: a WebSocket, a few commands, no driver library.
 * Tests wait on DOM conditions (`waitFor`), never on sleeps; every console
 * error, uncaught exception and failed load the page logs is kept in `errors`.
 */

export interface BrowserPage {
  goto(url: string): Promise<void>;
  /** Evaluates `expression` in the page (promises awaited) and returns its JSON value. */
  evaluate<T = unknown>(expression: string): Promise<T>;
  /** Polls `expression` in the page until it is truthy; returns its value. */
  waitFor<T = unknown>(what: string, expression: string, timeoutMs?: number): Promise<T>;
  screenshot(path: string): Promise<void>;
  /** Console errors, uncaught exceptions, failed loads, as text. */
  errors: string[];
}

export interface Browser {
  page: BrowserPage;
  close(): Promise<void>;
}

/** The chromium binary, or null when none is installed. */
export function findChromium(): string | null {
  const given = Deno.env.get("CHROMIUM");
  if (given) return given;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const name of ["chromium", "chromium-browser"]) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
      } catch { /* not here */ }
    }
  }
  return null;
}

export async function launchBrowser(): Promise<Browser> {
  const bin = findChromium();
  if (!bin) {
    throw new Error("chromium is not installed (apt-get install chromium, or set CHROMIUM)");
  }
  const profile = await Deno.makeTempDir({ prefix: "cortex-chromium-" });
  const child = new Deno.Command(bin, {
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-extensions",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "--window-size=1280,900",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Chromium prints its DevTools address on stderr; the rest of stderr is drained, never read.
  const wsUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("chromium did not start in 30 s")), 30_000);
    (async () => {
      let text = "";
      let found = false;
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        if (found) continue;
        text += chunk;
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(text);
        if (m) {
          found = true;
          clearTimeout(timer);
          resolve(m[1]);
        }
      }
      if (!found) {
        clearTimeout(timer);
        reject(new Error(`chromium exited: ${text.slice(-2000)}`));
      }
    })();
  });

  const ws = new WebSocket(wsUrl);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`cannot connect to ${wsUrl}`));
  });
  let nextId = 1;
  const calls = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const listeners: ((method: string, params: Record<string, unknown>) => void)[] = [];
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data as string);
    if (msg.id !== undefined) {
      const call = calls.get(msg.id);
      calls.delete(msg.id);
      if (msg.error) call?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
      else call?.resolve(msg.result);
    } else if (msg.method) {
      for (const fn of listeners) fn(msg.method, msg.params ?? {});
    }
  };
  const send = <T = Record<string, unknown>>(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });

  const { targetId } = await send<{ targetId: string }>("Target.createTarget", {
    url: "about:blank",
  });
  const { sessionId } = await send<{ sessionId: string }>("Target.attachToTarget", {
    targetId,
    flatten: true,
  });
  const s = <T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}) =>
    send<T>(method, params, sessionId);

  const errors: string[] = [];
  listeners.push((method, p) => {
    if (method === "Runtime.exceptionThrown") {
      const d = p.exceptionDetails as { text: string; exception?: { description?: string } };
      errors.push(`exception: ${d.exception?.description ?? d.text}`);
    } else if (method === "Runtime.consoleAPICalled" && p.type === "error") {
      const args = p.args as { value?: unknown; description?: string }[];
      errors.push(`console.error: ${args.map((a) => a.value ?? a.description).join(" ")}`);
    } else if (method === "Log.entryAdded") {
      const entry = p.entry as { level: string; text: string; url?: string };
      if (entry.level === "error") errors.push(`log: ${entry.text} ${entry.url ?? ""}`);
    }
  });
  await s("Page.enable");
  await s("Runtime.enable");
  await s("Log.enable");

  const evaluate = async <T>(expression: string): Promise<T> => {
    const r = await s<{ result: { value?: T }; exceptionDetails?: { text: string } }>(
      "Runtime.evaluate",
      { expression, returnByValue: true, awaitPromise: true },
    );
    if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.text}`);
    return r.result.value as T;
  };

  const page: BrowserPage = {
    errors,
    async goto(url) {
      const loaded = new Promise<void>((resolve) => {
        listeners.push((method) => {
          if (method === "Page.loadEventFired") resolve();
        });
      });
      const r = await s<{ errorText?: string }>("Page.navigate", { url });
      if (r.errorText) throw new Error(`navigating to ${url}: ${r.errorText}`);
      await loaded;
    },
    evaluate,
    async waitFor<T>(what: string, expression: string, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const v = await evaluate<T>(expression);
        if (v) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async screenshot(path) {
      const { data } = await s<{ data: string }>("Page.captureScreenshot", {
        format: "png",
        captureBeyondViewport: true,
      });
      const bin = atob(data);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeFile(path, bytes);
    },
  };

  return {
    page,
    async close() {
      await send("Browser.close").catch(() => {});
      ws.close();
      const exited = await Promise.race([
        child.status.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 5000)),
      ]);
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
        await child.status;
      }
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}
