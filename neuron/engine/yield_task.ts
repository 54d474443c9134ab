/**
 * Yields one macrotask without timer clamping: after a decode that blocked
 * the worker's thread, pending messages (new requests, cancels) run before
 * the next step. setTimeout(0) would be clamped to 4 ms once nested.
 */
export class TaskYielder {
  #channel = new MessageChannel();
  #waiting: (() => void)[] = [];

  constructor() {
    this.#channel.port1.onmessage = () => this.#waiting.shift()?.();
  }

  next(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      this.#channel.port2.postMessage(0);
    });
  }

  close(): void {
    this.#channel.port1.close();
    this.#channel.port2.close();
  }
}
