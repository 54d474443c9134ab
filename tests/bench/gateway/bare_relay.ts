/**
 * The floor for a proxy on this runtime, measured beside the gateway: `Deno.serve` and
 * `fetch`, the upstream body handed to the `Response` as it is (the runtime pipes it without
 * JavaScript). No routing, accounting, TTFT, usage or error events: what the gateway adds on
 * top is the difference. `deno run --allow-net bare_relay.ts <upstream URL>`.
 */

export function bareRelay(upstream: string): (req: Request) => Promise<Response> {
  const client = Deno.createHttpClient({ http2: false });
  return async (req) => {
    const res = await fetch(upstream + new URL(req.url).pathname, {
      method: req.method,
      headers: { "content-type": "application/json" },
      body: req.body ? await req.arrayBuffer() : undefined,
      signal: req.signal,
      client,
    });
    return new Response(res.body, { status: res.status, headers: res.headers });
  };
}

if (import.meta.main) {
  const [upstream] = Deno.args;
  if (!upstream) {
    console.error("usage: bare_relay.ts <upstream URL>");
    Deno.exit(2);
  }
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (a) => console.log(`listening on http://127.0.0.1:${a.port}`),
  }, bareRelay(upstream));
}
