/**
 * Reads one `{"name": …, "arguments": {…}}` object, a character at a time, and announces the
 * call as soon as that is safe: when the arguments object starts and the name is known (so
 * the arguments can stream), or when the name arrives after the arguments, or at the
 * closing brace.
 *
 * Before the call is announced every problem is a `fail`: the caller gives the text back as
 * content. After it is announced the call stays a call: damaged arguments are closed at the
 * last safe point (`broken`), a missing closing brace is forgiven.
 */
import { JsonValueStream } from "./json_value_stream.ts";

export interface CallHooks {
  /** May this name be called (it is among the request's tools)? */
  acceptName(name: string): boolean;
  start(name: string): void;
  args(delta: string): void;
  end(): void;
  issue(message: string): void;
}

export interface CallObjectOptions {
  /** Keys that hold the arguments. */
  argKeys: ReadonlySet<string>;
  /**
   * Bare JSON (no marker before it) is only a call if its first key looks like one; this
   * lets an ordinary JSON answer stream out as text at once.
   */
  strictFirstKey: boolean;
}

export type CallStatus =
  /** the character was consumed, the object goes on */
  | "more"
  /** the call ended (announced, arguments complete) */
  | "done"
  /** not a call; nothing was announced */
  | "fail"
  /** the announced call's arguments broke; the call was closed with repaired arguments */
  | "broken";

export interface CallPush {
  status: CallStatus;
  /** false when the character belongs to whatever comes next */
  consumed: boolean;
}

type State =
  | "open"
  | "key_or_close"
  | "key"
  | "key_text"
  | "colon"
  | "value_start"
  | "value"
  | "after_value"
  | "closed";

type Role = "name" | "args_stream" | "args_buffer" | "args_string" | "skip";

const WS = new Set([" ", "\t", "\n", "\r"]);
const CALL_KEYS = new Set(["name", "arguments", "parameters", "id", "type"]);

export class CallObjectParser {
  #state: State = "open";
  #val: JsonValueStream | undefined;
  #role: Role = "skip";
  #firstKey = true;
  #key = "";
  #name: string | undefined;
  /** complete arguments JSON text, when read before the announcement */
  #argsText: string | undefined;
  #argsDone = false;
  #started = false;

  constructor(private readonly hooks: CallHooks, private readonly opts: CallObjectOptions) {}

  /** True once the call was announced. */
  get started(): boolean {
    return this.#started;
  }

  push(ch: string): CallPush {
    switch (this.#state) {
      case "closed":
        return { status: "done", consumed: false };
      case "open":
        if (WS.has(ch)) return more();
        if (ch !== "{") return this.#abandon("expected '{'");
        this.#state = "key_or_close";
        return more();
      case "key_or_close":
      case "key":
        if (WS.has(ch)) return more();
        if (ch === '"') {
          this.#val = new JsonValueStream();
          this.#val.push(ch);
          this.#state = "key_text";
          return more();
        }
        if (ch === "}") {
          if (this.#state === "key") this.hooks.issue("dropped a trailing comma");
          return this.#close();
        }
        return this.#abandon(`unexpected ${JSON.stringify(ch)} where a key belongs`);
      case "key_text":
        return this.#keyText(ch);
      case "colon":
        if (WS.has(ch)) return more();
        if (ch !== ":") return this.#abandon("expected ':'");
        this.#state = "value_start";
        return more();
      case "value_start":
        if (WS.has(ch)) return more();
        return this.#valueStart(ch);
      case "value":
        return this.#value(ch);
      case "after_value":
        if (WS.has(ch)) return more();
        if (ch === ",") {
          this.#state = "key";
          return more();
        }
        if (ch === "}") return this.#close();
        return this.#abandon(`unexpected ${JSON.stringify(ch)} after a value`);
    }
  }

  /** End of input inside the object. */
  eof(): CallStatus {
    if (this.#state === "closed") return "done";
    if (this.#state === "value" && this.#role === "args_stream") {
      this.hooks.issue("arguments were cut off; closed them");
      this.#finishBrokenArgs();
      return "broken";
    }
    if (this.#state === "value" && this.#val?.end() === "done") {
      // A top-level number ended by the end of input: settle it like any value.
      this.#valueDone();
    }
    if (this.#started) {
      this.hooks.issue("the call object was not closed");
      this.#endCall();
      return "done";
    }
    if (this.#name !== undefined && this.#argsDone) {
      this.hooks.issue("the call object was not closed");
      this.#announce();
      this.#endCall();
      return "done";
    }
    return "fail";
  }

  #keyText(ch: string): CallPush {
    const val = this.#val!;
    const r = val.push(ch);
    if (r === "error") return this.#abandon("bad key");
    if (r === "more") return more();
    this.#key = JSON.parse(val.take()) as string;
    if (this.#firstKey && this.opts.strictFirstKey && !CALL_KEYS.has(this.#key)) {
      return this.#fail(true);
    }
    this.#firstKey = false;
    this.#state = "colon";
    return more();
  }

  #valueStart(ch: string): CallPush {
    const key = this.#key;
    if (key === "name" && this.#name === undefined) {
      if (ch !== '"') return this.#abandon("the name is not a string");
      this.#role = "name";
    } else if (this.opts.argKeys.has(key) && !this.#argsDone) {
      if (ch === "{") {
        if (this.#name !== undefined) {
          this.#announce();
          this.#role = "args_stream";
        } else {
          this.#role = "args_buffer";
        }
      } else if (ch === '"') {
        this.#role = "args_string";
      } else {
        return this.#abandon("the arguments are neither an object nor a string");
      }
    } else {
      this.#role = "skip";
    }
    this.#val = new JsonValueStream();
    this.#state = "value";
    return this.#value(ch);
  }

  #value(ch: string): CallPush {
    const val = this.#val!;
    const r = val.push(ch);
    if (this.#role === "args_stream") {
      const text = val.take();
      if (text) this.hooks.args(text);
    }
    if (r === "more") return more();
    if (r === "error") {
      if (this.#role === "args_stream") {
        this.hooks.issue("malformed arguments JSON; closed them at the last complete member");
        this.#finishBrokenArgs();
        return { status: "broken", consumed: false };
      }
      return this.#abandon("malformed JSON");
    }
    const outcome = this.#valueDone();
    if (outcome) return outcome;
    this.#state = "after_value";
    return r === "done" ? more() : this.push(ch);
  }

  /** Settles a complete value; returns a result when that ends the object's parse. */
  #valueDone(): CallPush | undefined {
    const val = this.#val!;
    for (const repair of val.repairs) this.hooks.issue(repair);
    switch (this.#role) {
      case "name": {
        const name = JSON.parse(val.take()) as string;
        if (!this.hooks.acceptName(name)) return this.#fail(true);
        this.#name = name;
        if (this.#argsDone) this.#announce();
        break;
      }
      case "args_stream":
        this.#argsDone = true;
        break;
      case "args_buffer":
        this.#argsText = val.take();
        this.#argsDone = true;
        if (this.#name !== undefined) this.#announce();
        break;
      case "args_string": {
        const inner = parseObjectText(JSON.parse(val.take()) as string);
        if (inner === undefined) return this.#abandon("the arguments string is not a JSON object");
        this.#argsText = inner;
        this.#argsDone = true;
        if (this.#name !== undefined) this.#announce();
        break;
      }
      case "skip":
        break;
    }
    this.#state = "after_value";
    return undefined;
  }

  #announce(): void {
    if (this.#started) return;
    this.#started = true;
    this.hooks.start(this.#name!);
    if (this.#argsText !== undefined) this.hooks.args(this.#argsText);
  }

  #endCall(): void {
    if (this.#argsText === undefined && !this.#argsDone) this.hooks.args("{}");
    this.hooks.end();
    this.#state = "closed";
  }

  #finishBrokenArgs(): void {
    const val = this.#val!;
    this.hooks.args(val.take() + val.closers());
    this.#argsDone = true;
    this.#argsText = ""; // the text is already out
    this.hooks.end();
    this.#state = "closed";
  }

  #close(): CallPush {
    if (this.#name === undefined) return this.#fail(true);
    this.#announce();
    this.#endCall();
    return { status: "done", consumed: true };
  }

  /**
   * The object cannot be read further. An announced call with complete arguments simply
   * ends here (the character belongs to what follows); otherwise this is not a call.
   */
  #abandon(why: string): CallPush {
    if (this.#started && this.#argsDone) {
      this.hooks.issue(`call object ended early (${why})`);
      this.#endCall();
      return { status: "done", consumed: false };
    }
    return this.#fail(false);
  }

  #fail(consumed: boolean): CallPush {
    this.#state = "closed";
    return { status: "fail", consumed };
  }
}

function more(): CallPush {
  return { status: "more", consumed: true };
}

/** The text itself when it is one JSON object (trimmed), else undefined. */
function parseObjectText(text: string): string | undefined {
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    return text.trim();
  } catch {
    return undefined;
  }
}
