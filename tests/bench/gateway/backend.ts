/** What answers behind the proxies: the canned stand-in neuron, and the request bodies sent. */

import { startCannedBackend } from "./processes.ts";

export interface Backend {
  url: string;
  pid: number;
  model: string;
  describe: string;
  /** The chat request bodies: a whole answer, a stream, and a late arrival's shorter stream. */
  body: { whole: string; stream: string; arrival: string };
  /** Content events of a late arrival's stream. */
  arrivalEvents: number;
  log(): string;
  stop(): Promise<void>;
}

export function chatBody(model: string, stream: boolean, maxTokens: number): string {
  return JSON.stringify({
    model,
    messages: [{ role: "user", content: "Say hello to the benchmark." }],
    max_tokens: maxTokens,
    ...(stream ? { stream: true } : {}),
  });
}

/** A late arrival's answer: short, so it ends while the N streams it arrived among are open. */
const ARRIVAL_EVENTS = 25;

export async function startCanned(events: number, intervalMs: number): Promise<Backend> {
  const model = "canned";
  const arrivalEvents = Math.min(events, ARRIVAL_EVENTS);
  const child = await startCannedBackend({ model, chunks: events, delayMs: intervalMs });
  return {
    url: child.url,
    pid: child.pid,
    model,
    describe: `canned stand-in neuron (Deno.serve, one shared ${intervalMs} ms ticker): ` +
      `${events} content events per stream, ${intervalMs} ms apart, then usage and [DONE]`,
    body: {
      whole: chatBody(model, false, events),
      stream: chatBody(model, true, events),
      arrival: chatBody(model, true, arrivalEvents),
    },
    arrivalEvents,
    log: child.log,
    stop: child.stop,
  };
}
