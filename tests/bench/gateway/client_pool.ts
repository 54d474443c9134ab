/**
 * Stream clients in processes of their own, so the client's event loop is not the bench's
 * (which samples /proc meanwhile) and its CPU shows apart from the proxy's. A run splits its
 * streams across the processes, starts them together and merges what they tally.
 */

import { mergeTallies, type StreamSpec, type StreamTally, tallyFromJson } from "./stream_client.ts";

interface ClientProcess {
  proc: Deno.ChildProcess;
  send(line: string): Promise<void>;
  /** The next line the process prints. */
  next(): Promise<string>;
  close(): Promise<void>;
}

/** `total` streams split into `parts` shares as even as they go, none empty. */
export function split(total: number, parts: number): number[] {
  const n = Math.max(1, Math.min(parts, total));
  return Array.from({ length: n }, (_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
}

async function spawnClient(): Promise<ClientProcess> {
  const entry = new URL("./stream_client.ts", import.meta.url).pathname;
  // Raise the soft fd limit to the hard one: each process may hold 1,024 sockets.
  const proc = new Deno.Command("sh", {
    args: [
      "-c",
      'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"',
      Deno.execPath(),
      "run",
      "--allow-net",
      entry,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = proc.stdin.getWriter();
  const enc = new TextEncoder();
  const lines = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const next = async (): Promise<string> => {
    for (;;) {
      const nl = pending.indexOf("\n");
      if (nl !== -1) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        return line;
      }
      const { value, done } = await lines.read();
      if (done) throw new Error("a stream client process exited");
      pending += value;
    }
  };
  const close = async () => {
    // Closing stdin ends the process's read loop; it exits by itself.
    await writer.close().catch(() => {});
    await lines.cancel().catch(() => {});
    await proc.status;
  };
  const send = (line: string) => writer.write(enc.encode(line + "\n"));
  if ((await next().catch(() => "")) !== "ready") {
    await close();
    throw new Error("a stream client process did not start");
  }
  return { proc, send, next, close };
}

export class ClientPool {
  private constructor(readonly clients: ClientProcess[]) {}

  static async start(processes: number): Promise<ClientPool> {
    const clients: ClientProcess[] = [];
    try {
      for (let i = 0; i < processes; i++) clients.push(await spawnClient());
    } catch (e) {
      await new ClientPool(clients).close();
      throw e;
    }
    return new ClientPool(clients);
  }

  /** The client processes' pids, whose CPU time the bench also reads. */
  get pids(): number[] {
    return this.clients.map((c) => c.proc.pid);
  }

  /**
   * Runs `spec.streams` streams split across the processes, all sent off together; the
   * arrivals, one after another, all from the first process.
   */
  async run(spec: StreamSpec): Promise<StreamTally> {
    const shares = split(spec.streams, this.clients.length);
    const used = this.clients.slice(0, shares.length);
    await Promise.all(used.map((c, i) =>
      c.send(JSON.stringify({
        ...spec,
        streams: shares[i],
        arrivals: i === 0 ? spec.arrivals : undefined,
      }))
    ));
    const lines = await Promise.all(used.map((c) => c.next()));
    const failed = lines.find((l) => l.startsWith(`{"error"`));
    if (failed) throw new Error(`stream client: ${JSON.parse(failed).error}`);
    return mergeTallies(lines.map(tallyFromJson));
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
  }
}
