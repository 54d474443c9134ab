/** SIGTERM / SIGINT → one graceful shutdown; a second signal exits at once. */

export function onShutdownSignal(shutdown: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) Deno.exit(130);
    stopping = true;
    shutdown().catch(() => Deno.exit(1));
  };
  Deno.addSignalListener("SIGTERM", handler);
  Deno.addSignalListener("SIGINT", handler);
}
