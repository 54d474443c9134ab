/**
 * The dashboard the gateway serves on its API listener: `GET /` redirects to
 * `/dashboard`, the page and its script and style come from `page/`, uPlot
 * from the `uplot` npm package (pinned in deno.json), all read once at start.
 * The page holds no key and no data; it reads `GET /cortex/events` (hub.ts)
 * with the key the operator types in.
 */

import { createRequire } from "node:module";
import { createLogger } from "../../core/log.ts";
import { DashboardHub, type HubSources } from "./hub.ts";

export { DashboardHub, type HubSources };

interface Asset {
  body: Uint8Array<ArrayBuffer>;
  type: string;
}

export interface Dashboard {
  hub: DashboardHub;
  /** The page's files (no auth: they hold no data); null for other paths. */
  asset(path: string): Response | null;
  close(): void;
}

const PAGE_FILES: Record<string, [string, string]> = {
  "/dashboard": ["index.html", "text/html; charset=utf-8"],
  "/dashboard/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/dashboard/app.css": ["app.css", "text/css; charset=utf-8"],
};

/** uPlot's browser build and style, found through Node resolution from this file. */
const UPLOT_FILES: Record<string, [string, string]> = {
  "/dashboard/uplot.js": ["uplot/dist/uPlot.iife.min.js", "text/javascript; charset=utf-8"],
  "/dashboard/uplot.css": ["uplot/dist/uPlot.min.css", "text/css; charset=utf-8"],
};

const HEADERS = {
  "cache-control": "no-cache",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  // Scripts and styles only from the gateway itself; uPlot sizes elements through `style`.
  "content-security-policy":
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
};

export async function createDashboard(src: HubSources): Promise<Dashboard> {
  const assets = new Map<string, Asset>();
  const log = createLogger("gateway.dashboard");
  try {
    for (const [path, [file, type]] of Object.entries(PAGE_FILES)) {
      const body = await Deno.readFile(new URL(`./page/${file}`, import.meta.url));
      assets.set(path, { body, type });
    }
  } catch (e) {
    // A binary built without the page's files still serves the APIs, the stream included.
    assets.clear();
    log.warn("dashboard page not found: /dashboard is off", { error: (e as Error).message });
  }
  const require = createRequire(import.meta.url);
  for (const [path, [spec, type]] of Object.entries(UPLOT_FILES)) {
    if (!assets.size) break;
    try {
      assets.set(path, { body: await Deno.readFile(require.resolve(spec)), type });
    } catch (e) {
      // The page still works without charts; say why there are none.
      log.warn("uPlot not found: the dashboard has no charts", {
        file: spec,
        error: (e as Error).message,
      });
    }
  }
  const hub = new DashboardHub(src);
  return {
    hub,
    asset(path) {
      if (assets.size && (path === "/" || path === "/dashboard/")) {
        return new Response(null, { status: 302, headers: { location: "/dashboard" } });
      }
      const a = assets.get(path);
      if (!a) return null;
      return new Response(a.body, { headers: { ...HEADERS, "content-type": a.type } });
    },
    close: () => hub.close(),
  };
}

/** `GET /cortex/events`: the hub's stream for one dashboard (auth is checked by the caller). */
export function eventStream(hub: DashboardHub, req: Request): Response {
  return new Response(hub.subscribe(req.signal), {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    },
  });
}
