/**
 * An incremental lexer for one JSON value, fed a character (code point) at a time.
 *
 * It exists so tool-call arguments can be streamed while the model writes them: the text it
 * hands out (`take()`) is always a prefix that `closers()` turns into valid JSON. To keep
 * that true it holds back what could still go wrong — a comma until the next member starts,
 * an object key until its value starts, a number or literal until it ends, an escape until
 * it is complete — and repairs the mistakes that have exactly one sensible reading:
 *
 * - a raw control character inside a string is escaped (`\n` written as a real newline);
 * - an invalid escape such as `\d` keeps its backslash literally (`\\d`);
 * - a trailing comma before `}` or `]` is dropped.
 *
 * Anything else that is not JSON is an error; the caller decides what to do with the text.
 */

/** What happened to the character just pushed. */
export type JsonPushResult =
  /** consumed; the value is not complete yet */
  | "more"
  /** consumed; the value is complete */
  | "done"
  /** not consumed: it ended a top-level number, which is now complete */
  | "done_unconsumed"
  /** not consumed: it cannot continue this value (the lexer stays in error) */
  | "error";

type Mode =
  | "value" // a value must start (top level, or after ':')
  | "value_or_close" // after '['
  | "value_after_comma" // after ',' in an array
  | "key_or_close" // after '{'
  | "key" // after ',' in an object
  | "colon"
  | "after_value"
  | "string"
  | "escape"
  | "number"
  | "literal"
  | "done"
  | "error";

const WS = new Set([" ", "\t", "\n", "\r"]);
const NUMBER_CHARS = /^[0-9.eE+-]$/;
const NUMBER_RE = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
const LITERALS = ["true", "false", "null"];
const SIMPLE_ESCAPES = new Set(['"', "\\", "/", "b", "f", "n", "r", "t"]);
const HEX = /^[0-9a-fA-F]$/;

/** Escapes a control character the JSON way. */
export function escapeControl(ch: string): string {
  switch (ch) {
    case "\n":
      return "\\n";
    case "\r":
      return "\\r";
    case "\t":
      return "\\t";
    case "\b":
      return "\\b";
    case "\f":
      return "\\f";
    default:
      return "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0");
  }
}

export class JsonValueStream {
  #mode: Mode = "value";
  #stack: ("{" | "[")[] = [];
  /** safe text not yet taken */
  #out = "";
  /** text held back until it is known to be safe */
  #pending = "";
  /** the number, literal or escape being read */
  #buf = "";
  #stringIsKey = false;
  /** the taken/ready text ends inside an open value string */
  #inValueString = false;
  #started = false;
  #repairs: string[] = [];

  /** True once the first non-whitespace character was accepted. */
  get started(): boolean {
    return this.#started;
  }

  /** True when the value is complete. */
  get done(): boolean {
    return this.#mode === "done";
  }

  /** Repairs applied so far, in words (for logs). */
  get repairs(): readonly string[] {
    return this.#repairs;
  }

  /** Returns the safe text produced since the last call. */
  take(): string {
    const out = this.#out;
    this.#out = "";
    return out;
  }

  /** The text that closes everything opened by the safe text handed out so far. */
  closers(): string {
    if (this.#mode === "done") return "";
    let s = this.#inValueString ? '"' : "";
    for (let i = this.#stack.length - 1; i >= 0; i--) s += this.#stack[i] === "{" ? "}" : "]";
    return s;
  }

  /** End of input: completes a pending top-level number; anything else open is an error. */
  end(): "done" | "error" {
    if (this.#mode === "done") return "done";
    if (this.#mode === "number" && this.#stack.length === 0 && NUMBER_RE.test(this.#buf)) {
      this.#emit(this.#buf);
      this.#buf = "";
      this.#mode = "done";
      return "done";
    }
    return "error";
  }

  push(ch: string): JsonPushResult {
    const r = this.#step(ch);
    if (r === "error") this.#mode = "error";
    return r;
  }

  #emit(s: string): void {
    this.#out += this.#pending + s;
    this.#pending = "";
  }

  #hold(s: string): void {
    this.#pending += s;
  }

  #whitespace(ch: string): void {
    if (!this.#started) return; // leading whitespace is not part of the value
    if (this.#pending) this.#hold(ch);
    else this.#emit(ch);
  }

  #afterValue(): JsonPushResult {
    if (this.#stack.length === 0) {
      this.#mode = "done";
      return "done";
    }
    this.#mode = "after_value";
    return "more";
  }

  #close(ch: "}" | "]"): JsonPushResult {
    const open = ch === "}" ? "{" : "[";
    if (this.#stack[this.#stack.length - 1] !== open) return "error";
    this.#stack.pop();
    this.#emit(ch);
    return this.#afterValue();
  }

  #dropTrailingComma(): void {
    this.#pending = "";
    this.#repairs.push("dropped a trailing comma");
  }

  #startValue(ch: string): JsonPushResult {
    this.#started = true;
    switch (ch) {
      case "{":
        this.#emit(ch);
        this.#stack.push("{");
        this.#mode = "key_or_close";
        return "more";
      case "[":
        this.#emit(ch);
        this.#stack.push("[");
        this.#mode = "value_or_close";
        return "more";
      case '"':
        this.#emit(ch);
        this.#stringIsKey = false;
        this.#inValueString = true;
        this.#mode = "string";
        return "more";
    }
    if (ch === "-" || (ch >= "0" && ch <= "9")) {
      this.#buf = ch;
      this.#mode = "number";
      return "more";
    }
    if (ch === "t" || ch === "f" || ch === "n") {
      this.#buf = ch;
      this.#mode = "literal";
      return "more";
    }
    return "error";
  }

  /** Writes a string character: keys are held back, values go out. */
  #stringText(s: string): void {
    if (this.#stringIsKey) this.#hold(s);
    else this.#emit(s);
  }

  #step(ch: string): JsonPushResult {
    switch (this.#mode) {
      case "done":
      case "error":
        return "error";

      case "value":
      case "value_or_close":
      case "value_after_comma":
        if (WS.has(ch)) {
          this.#whitespace(ch);
          return "more";
        }
        if (ch === "]" && this.#mode !== "value") {
          if (this.#mode === "value_after_comma") this.#dropTrailingComma();
          return this.#close("]");
        }
        return this.#startValue(ch);

      case "key_or_close":
      case "key":
        if (WS.has(ch)) {
          this.#whitespace(ch);
          return "more";
        }
        if (ch === '"') {
          this.#hold(ch);
          this.#stringIsKey = true;
          this.#mode = "string";
          return "more";
        }
        if (ch === "}") {
          if (this.#mode === "key") this.#dropTrailingComma();
          return this.#close("}");
        }
        return "error";

      case "colon":
        if (WS.has(ch)) {
          this.#hold(ch);
          return "more";
        }
        if (ch === ":") {
          this.#hold(ch);
          this.#mode = "value";
          return "more";
        }
        return "error";

      case "after_value":
        if (WS.has(ch)) {
          this.#whitespace(ch);
          return "more";
        }
        if (ch === ",") {
          this.#hold(ch);
          this.#mode = this.#stack[this.#stack.length - 1] === "{" ? "key" : "value_after_comma";
          return "more";
        }
        if (ch === "}" || ch === "]") return this.#close(ch);
        return "error";

      case "string":
        if (ch === '"') {
          if (this.#stringIsKey) {
            this.#hold(ch);
            this.#mode = "colon";
            return "more";
          }
          this.#emit(ch);
          this.#inValueString = false;
          return this.#afterValue();
        }
        if (ch === "\\") {
          this.#buf = ch;
          this.#mode = "escape";
          return "more";
        }
        if (ch.charCodeAt(0) < 0x20) {
          this.#repairs.push("escaped a raw control character in a string");
          this.#stringText(escapeControl(ch));
          return "more";
        }
        this.#stringText(ch);
        return "more";

      case "escape":
        return this.#escape(ch);

      case "number":
        if (NUMBER_CHARS.test(ch)) {
          this.#buf += ch;
          return "more";
        }
        if (!NUMBER_RE.test(this.#buf)) return "error";
        this.#emit(this.#buf);
        this.#buf = "";
        if (this.#stack.length === 0) {
          this.#mode = "done";
          return "done_unconsumed";
        }
        this.#mode = "after_value";
        return this.#step(ch);

      case "literal": {
        const next = this.#buf + ch;
        const match = LITERALS.find((l) => l.startsWith(next));
        if (!match) return "error";
        this.#buf = next;
        if (match !== next) return "more";
        this.#emit(next);
        this.#buf = "";
        return this.#afterValue();
      }
    }
  }

  #escape(ch: string): JsonPushResult {
    const buf = this.#buf + ch;
    if (buf.length === 2) {
      if (SIMPLE_ESCAPES.has(ch)) return this.#endEscape(buf);
      if (ch === "u") {
        this.#buf = buf;
        return "more";
      }
      // `\d`, `\'`, …: the model meant a literal backslash.
      this.#repairs.push(`kept the backslash of an invalid escape \\${ch}`);
      this.#mode = "string";
      this.#stringText("\\\\");
      return this.#step(ch);
    }
    if (!HEX.test(ch)) return "error";
    if (buf.length < 6) {
      this.#buf = buf;
      return "more";
    }
    return this.#endEscape(buf);
  }

  #endEscape(seq: string): JsonPushResult {
    this.#buf = "";
    this.#mode = "string";
    this.#stringText(seq);
    return "more";
  }
}
