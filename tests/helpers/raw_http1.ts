/**
 * A server on raw TCP that speaks only HTTP/1.1 and only as told: each connection's first
 * read is recorded and answered with `reply(head)`, then closed. For neurons behind
 * something HTTP/1.1-only, or answers no real server would give. With `tls`, it is an
 * `https` one offering only HTTP/1.1 by ALPN, as a TLS front without HTTP/2 does.
 */
export function rawHttp1(reply: (head: string) => string, tls?: { cert: string; key: string }) {
  const listener = tls
    ? Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...tls, alpnProtocols: ["http/1.1"] })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const heads: string[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      const buf = new Uint8Array(65536);
      const n = await conn.read(buf).catch(() => null) ?? 0; // a failed TLS handshake: nothing
      const head = new TextDecoder().decode(buf.subarray(0, n));
      heads.push(head);
      await conn.write(new TextEncoder().encode(reply(head))).catch(() => {});
      conn.close();
    }
  })();
  return {
    url: `${tls ? "https" : "http"}://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    /** What each connection sent first. */
    heads,
    async close() {
      listener.close();
      await loop.catch(() => {});
    },
  };
}
