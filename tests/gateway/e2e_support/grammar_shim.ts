/**
 * A pass-through HTTP forwarder between the gateway and a neuron, for end-to-end tests over
 * random-weight models.
 *
 * The Anthropic and Responses dialects have no grammar field (their schemas drop unknown
 * fields, as the public APIs do), so a test cannot ask the neuron for llama.cpp's `grammar`
 * through them. The gateway forwards the client's own headers upstream, so a test sends its
 * GBNF in `x-test-grammar` and this shim adds it to the chat completion body the gateway
 * produced. Everything else passes through byte for byte, streams included, and the chat
 * bodies the gateway sent are recorded so that tests can check the translation itself.
 * When the gateway drops a stream, Deno cancels the response body, which cancels the
 * upstream fetch's body: the neuron sees the disconnect as it would without the shim.
 */

/** The header a test puts its GBNF in (one line). */
export const GRAMMAR_HEADER = "x-test-grammar";

/** Headers that describe the shim's own connections, not the request or response. */
const HOP = new Set(["host", "connection", "keep-alive", "content-length", "transfer-encoding"]);

export interface GrammarShim {
  url: string;
  /** Bodies of `/v1/chat/completions` requests as the gateway sent them, oldest first. */
  readonly chats: Record<string, unknown>[];
  close(): Promise<void>;
}

/** Starts a shim on a free loopback port that forwards everything to `target`. */
export function startGrammarShim(target: string): GrammarShim {
  const chats: Record<string, unknown>[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      const headers = new Headers();
      for (const [k, v] of req.headers) if (!HOP.has(k)) headers.set(k, v);
      let body: BodyInit | undefined = req.body ? await req.arrayBuffer() : undefined;
      if (req.method === "POST" && url.pathname === "/v1/chat/completions" && body) {
        const json = JSON.parse(new TextDecoder().decode(body as ArrayBuffer));
        chats.push(structuredClone(json));
        const grammar = req.headers.get(GRAMMAR_HEADER);
        if (grammar) {
          json.grammar = grammar;
          body = JSON.stringify(json);
        }
      }
      const res = await fetch(`${target}${url.pathname}${url.search}`, {
        method: req.method,
        headers,
        body,
      });
      const out = new Headers();
      for (const [k, v] of res.headers) if (!HOP.has(k)) out.set(k, v);
      return new Response(res.body, { status: res.status, headers: out });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    chats,
    close: () => server.shutdown(),
  };
}
