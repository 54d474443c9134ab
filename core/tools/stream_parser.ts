/**
 * Splits a model's output, fed as text deltas cut anywhere, into content and tool calls.
 *
 * Decisions (also in README terms for the API layer):
 * - Text before a call streams at once. Text that could still become a marker (`<tool_c`)
 *   is held back until it is decided, so marker text never leaks.
 * - Whitespace that only separates text from a call is dropped; with no call at all the
 *   content is passed through exactly.
 * - A call is announced (`tool_call_start`) once its name is known and accepted and its
 *   arguments begin; arguments then stream as raw JSON text. Names not among the request's
 *   tools are not calls: that block stays in the content, verbatim.
 * - Damage found before the announcement (not JSON, no name, unknown name, arguments that
 *   are neither an object nor a JSON string holding one) leaves the text as content,
 *   verbatim. Damage after it is repaired where unambiguous (raw control characters
 *   escaped, trailing commas dropped, a missing closing brace or `</tool_call>` forgiven);
 *   otherwise the arguments are closed at the last complete member, the rest of that call
 *   is discarded, and `issues` says so. Streamed arguments always concatenate to the final
 *   arguments, which are always valid JSON.
 * - Bare JSON calls (llama3, json) are recognised at the start of the output and right
 *   after another call; llama3 also after `<|python_tag|>` anywhere.
 * - XML formats (qwen_xml, glm_xml, minimax_xml; xml_call.ts) build the arguments JSON as
 *   the parameters arrive: `{`, `"key": `, a string value piece by piece (escaped), a value
 *   of another type (from the tool's schema, param_types.ts) when its closing tag is read,
 *   `}`. Parameters no schema declares are strings.
 */
import { CallObjectParser } from "./call_object.ts";
import { TOOL_MARKERS, type ToolFormat, type ToolLike } from "./format.ts";
import { randomToolCallId, type ToolCallIdGenerator } from "./ids.ts";
import { JsonValueStream } from "./json_value_stream.ts";
import { ToolParamTypes } from "./param_types.ts";
import { XmlBlockParser, type XmlHooks } from "./xml_call.ts";
import { type XmlDialect, xmlDialect } from "./xml_dialect.ts";

export type ToolStreamEvent =
  | { type: "text"; text: string }
  | { type: "tool_call_start"; index: number; id: string; name: string }
  | { type: "tool_call_args"; index: number; delta: string }
  | { type: "tool_call_end"; index: number };

export interface ToolCallParserOptions {
  format: ToolFormat;
  /**
   * The request's tools; only their names are accepted (absent: any name is). The XML
   * formats also read each tool's parameter schema to type values; without one every
   * parameter is a string.
   */
  tools?: readonly ToolLike[];
  /** Makes call ids; random `call_…` ids by default. */
  newId?: ToolCallIdGenerator;
}

export interface ToolStreamFinish {
  /** What was still held back. */
  events: ToolStreamEvent[];
  /** At least one call was made: the response's finish_reason is "tool_calls". */
  calledTools: boolean;
  /** Repairs and discarded text, in words, for logs. */
  issues: string[];
}

type After = "hermes" | "bare" | "array";

type State =
  | { k: "text" }
  | { k: "call"; obj: CallObjectParser; after: After }
  | { k: "xml"; block: XmlBlockParser }
  | { k: "hermes_close"; matched: string }
  | { k: "discard"; until: string | undefined; matched: string }
  | { k: "array"; expect: "first" | "element" | "comma_or_close"; strict: boolean }
  | { k: "m_after_marker" }
  | { k: "m_name"; name: string }
  | { k: "m_tag"; name: string; tag: string; afterId: boolean }
  | { k: "m_call_id"; name: string }
  | { k: "m_args_ws"; name: string }
  | { k: "m_args"; val: JsonValueStream }
  | { k: "between_bare" };

const WS = new Set([" ", "\t", "\n", "\r"]);
const ARG_KEYS = new Set(["arguments", "parameters"]);
const MISTRAL_NAME_CHAR = /^[A-Za-z0-9_.\-]$/;

function markersFor(format: ToolFormat): string[] {
  const xml = xmlDialect(format);
  if (xml) return xml.bareCalls ? [xml.open, xml.nameOpen] : [xml.open];
  switch (format) {
    case "hermes":
      return [TOOL_MARKERS.hermesOpen];
    case "mistral":
      return [TOOL_MARKERS.mistralCalls];
    case "llama3":
      return [TOOL_MARKERS.pythonTag];
    default:
      return [];
  }
}

function bareStartsFor(format: ToolFormat): Set<string> {
  if (format === "llama3") return new Set(["{"]);
  if (format === "json") return new Set(["{", "["]);
  return new Set();
}

export class ToolCallStreamParser {
  readonly #markers: string[];
  readonly #bareStarts: Set<string>;
  readonly #names: Set<string> | undefined;
  readonly #newId: ToolCallIdGenerator;
  readonly #hooks: XmlHooks;
  readonly #xml: XmlDialect | undefined;
  readonly #paramTypes: ToolParamTypes;

  #st: State = { k: "text" };
  #events: ToolStreamEvent[] = [];
  #issues: string[] = [];
  #calls = 0;
  #index = -1;
  /** text of a structure that may still turn out not to be a call */
  #raw = "";
  /** partial marker in text */
  #candidate = "";
  /** whitespace in text, held until we know whether a call follows */
  #heldWs = "";
  /** a call just ended: whitespace before the next text is dropped */
  #afterCall = false;
  /** only whitespace since the output began or the last call ended */
  #segmentStart = true;
  /** a high surrogate waiting for its pair */
  #carry = "";
  #finished = false;

  constructor(opts: ToolCallParserOptions) {
    this.#markers = markersFor(opts.format);
    this.#bareStarts = bareStartsFor(opts.format);
    this.#names = opts.tools ? new Set(opts.tools.map((t) => t.function.name)) : undefined;
    this.#newId = opts.newId ?? randomToolCallId;
    this.#xml = xmlDialect(opts.format);
    this.#paramTypes = new ToolParamTypes(opts.tools);
    this.#hooks = {
      acceptName: (name) => this.#acceptName(name),
      start: (name) => {
        this.#index = this.#calls++;
        this.#raw = "";
        this.#push({ type: "tool_call_start", index: this.#index, id: this.#newId(), name });
      },
      args: (delta) => {
        if (delta) this.#push({ type: "tool_call_args", index: this.#index, delta });
      },
      end: () => this.#push({ type: "tool_call_end", index: this.#index }),
      issue: (message) => this.#issues.push(message),
      text: (text) => this.#emitText(text),
    };
  }

  /** Feeds the next piece of generated text; returns the events it completes. */
  push(delta: string): ToolStreamEvent[] {
    if (this.#finished) throw new Error("ToolCallStreamParser: push() after finish()");
    let text = this.#carry + delta;
    this.#carry = "";
    const last = text.charCodeAt(text.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      this.#carry = text.slice(-1);
      text = text.slice(0, -1);
    }
    for (const ch of text) this.#feed(ch);
    return this.#drain();
  }

  /** Ends the output: flushes what was held back and reports whether tools were called. */
  finish(): ToolStreamFinish {
    if (this.#finished) throw new Error("ToolCallStreamParser: finish() called twice");
    if (this.#carry) {
      const c = this.#carry;
      this.#carry = "";
      this.#feed(c);
    }
    this.#finished = true;
    const st = this.#st;
    switch (st.k) {
      case "text":
        if (this.#candidate) this.#emitText(this.#heldWs + this.#candidate);
        else if (this.#heldWs && this.#calls === 0) this.#emitText(this.#heldWs);
        break;
      case "call":
        if (st.obj.eof() === "fail") this.#release();
        break;
      case "xml": {
        const r = st.block.eof();
        if (r.status === "fail") {
          this.#raw += r.keep ?? "";
          this.#release();
        }
        break;
      }
      case "array":
        if (st.expect === "first") this.#release();
        break;
      case "m_after_marker":
      case "m_name":
      case "m_tag":
      case "m_call_id":
      case "m_args_ws":
        this.#release();
        break;
      case "m_args":
        this.#issues.push("arguments were cut off; closed them");
        this.#hooks.args(st.val.take() + st.val.closers());
        this.#hooks.end();
        break;
      case "hermes_close":
      case "discard":
      case "between_bare":
        break;
    }
    this.#candidate = "";
    this.#heldWs = "";
    return { events: this.#drain(), calledTools: this.#calls > 0, issues: [...this.#issues] };
  }

  // ---------------------------------------------------------------------------------------

  #acceptName(name: string): boolean {
    if (name === "") return false;
    return this.#names ? this.#names.has(name) : true;
  }

  #push(e: ToolStreamEvent): void {
    const prev = this.#events[this.#events.length - 1];
    if (e.type === "text" && prev?.type === "text") {
      prev.text += e.text;
    } else if (
      e.type === "tool_call_args" && prev?.type === "tool_call_args" && prev.index === e.index
    ) {
      prev.delta += e.delta;
    } else {
      this.#events.push(e);
    }
  }

  #drain(): ToolStreamEvent[] {
    const out = this.#events;
    this.#events = [];
    return out;
  }

  #emitText(s: string): void {
    if (!s) return;
    this.#push({ type: "text", text: s });
    this.#afterCall = false;
    this.#segmentStart = false;
  }

  /** Not a call after all: the held text is content, verbatim. */
  #release(): void {
    const raw = this.#raw;
    this.#raw = "";
    this.#st = { k: "text" };
    this.#emitText(raw);
  }

  /** Gives up a tentative structure at `ch`, which then is read as text. */
  #failAt(ch: string): void {
    this.#release();
    this.#feed(ch);
  }

  #callEnded(after: After | "mistral"): void {
    this.#raw = "";
    this.#afterCall = true;
    this.#segmentStart = true;
    switch (after) {
      case "hermes":
        this.#st = { k: "hermes_close", matched: "" };
        break;
      case "bare":
        this.#st = { k: "between_bare" };
        break;
      case "array":
        this.#st = { k: "array", expect: "comma_or_close", strict: false };
        break;
      case "mistral":
        this.#st = { k: "text" };
        break;
    }
  }

  #toText(refeed: string): void {
    this.#st = { k: "text" };
    this.#afterCall = true;
    for (const c of refeed) this.#feed(c);
  }

  #feed(ch: string): void {
    const st = this.#st;
    switch (st.k) {
      case "text":
        return this.#text(ch);
      case "call":
        return this.#call(st, ch);
      case "xml":
        return this.#xmlBlock(st, ch);
      case "hermes_close":
        return this.#hermesClose(st, ch);
      case "discard":
        return this.#discard(st, ch);
      case "array":
        return this.#array(st, ch);
      case "between_bare":
        if (WS.has(ch) || ch === ";") return;
        if (ch === "{") {
          this.#raw = "";
          this.#st = { k: "call", obj: this.#newCall(true), after: "bare" };
          return this.#feed(ch);
        }
        return this.#toText(ch);
      default:
        return this.#mistral(st, ch);
    }
  }

  #newCall(strictFirstKey: boolean): CallObjectParser {
    return new CallObjectParser(this.#hooks, { argKeys: ARG_KEYS, strictFirstKey });
  }

  #text(ch: string): void {
    if (!this.#candidate && this.#segmentStart && this.#bareStarts.has(ch)) {
      this.#raw = this.#heldWs;
      this.#heldWs = "";
      if (ch === "[") {
        this.#raw += ch;
        this.#st = { k: "array", expect: "first", strict: true };
        return;
      }
      this.#st = { k: "call", obj: this.#newCall(true), after: "bare" };
      return this.#feed(ch);
    }
    if (this.#candidate || this.#markers.some((m) => m.startsWith(ch))) {
      const s = this.#candidate + ch;
      const marker = this.#markers.find((m) => m === s);
      if (marker) {
        this.#candidate = "";
        this.#raw = this.#heldWs + marker;
        this.#heldWs = "";
        return this.#onMarker(marker);
      }
      if (this.#markers.some((m) => m.startsWith(s))) {
        this.#candidate = s;
        return;
      }
      // Not a marker: its first character is text, the rest is read again.
      this.#candidate = "";
      this.#emitText(this.#heldWs + s[0]);
      this.#heldWs = "";
      for (const c of s.slice(1)) this.#feed(c);
      return;
    }
    if (WS.has(ch)) {
      if (!this.#afterCall) this.#heldWs += ch;
      return;
    }
    this.#emitText(this.#heldWs + ch);
    this.#heldWs = "";
  }

  #onMarker(marker: string): void {
    const xml = this.#xml;
    if (xml) {
      const bare = marker === xml.nameOpen;
      this.#st = { k: "xml", block: new XmlBlockParser(this.#hooks, xml, this.#paramTypes, bare) };
      return;
    }
    switch (marker) {
      case TOOL_MARKERS.hermesOpen:
        this.#st = { k: "call", obj: this.#newCall(false), after: "hermes" };
        break;
      case TOOL_MARKERS.pythonTag:
        this.#st = { k: "call", obj: this.#newCall(false), after: "bare" };
        break;
      case TOOL_MARKERS.mistralCalls:
        this.#st = { k: "m_after_marker" };
        break;
    }
  }

  #call(st: Extract<State, { k: "call" }>, ch: string): void {
    const wasStarted = st.obj.started;
    const r = st.obj.push(ch);
    if (!wasStarted && !st.obj.started && r.consumed) this.#raw += ch;
    switch (r.status) {
      case "more":
        return;
      case "done":
        this.#callEnded(st.after);
        break;
      case "fail":
        this.#release();
        break;
      case "broken":
        this.#afterCall = true;
        this.#segmentStart = false;
        this.#st = {
          k: "discard",
          until: st.after === "hermes" ? TOOL_MARKERS.hermesClose : undefined,
          matched: "",
        };
        break;
    }
    if (!r.consumed) this.#feed(ch);
  }

  #xmlBlock(st: Extract<State, { k: "xml" }>, ch: string): void {
    const r = st.block.push(ch);
    switch (r.status) {
      case "more":
        return;
      case "done":
        this.#raw = "";
        this.#afterCall = true;
        this.#segmentStart = true;
        this.#st = { k: "text" };
        break;
      case "fail":
        this.#raw += r.keep ?? "";
        this.#release();
        break;
    }
    for (const c of r.give ?? "") this.#feed(c);
  }

  #hermesClose(st: Extract<State, { k: "hermes_close" }>, ch: string): void {
    const s = st.matched + ch;
    if (TOOL_MARKERS.hermesClose.startsWith(s)) {
      if (s === TOOL_MARKERS.hermesClose) this.#st = { k: "text" };
      else st.matched = s;
      return;
    }
    if (!st.matched && WS.has(ch)) return;
    if (!st.matched && ch === "}") {
      this.#issues.push("ignored a stray '}' after a call");
      return;
    }
    // The close tag is missing: what follows is text again.
    this.#issues.push("a call was not followed by </tool_call>");
    this.#toText(s);
  }

  #discard(st: Extract<State, { k: "discard" }>, ch: string): void {
    if (st.until === undefined) return;
    const s = st.matched + ch;
    if (st.until.startsWith(s)) {
      if (s !== st.until) {
        st.matched = s;
        return;
      }
      if (st.until === TOOL_MARKERS.hermesClose) {
        this.#st = { k: "text" };
      } else {
        this.#raw = st.until;
        this.#st = { k: "text" };
        this.#onMarker(st.until);
      }
      return;
    }
    st.matched = st.until.startsWith(ch) ? ch : "";
  }

  #array(st: Extract<State, { k: "array" }>, ch: string): void {
    if (WS.has(ch)) {
      this.#raw += ch;
      return;
    }
    if (ch === "{" && st.expect !== "comma_or_close") {
      this.#st = { k: "call", obj: this.#newCall(st.strict), after: "array" };
      return this.#feed(ch);
    }
    if (st.expect === "first") {
      if (ch === "]") {
        this.#raw += ch;
        return this.#release(); // an empty list calls nothing
      }
      return this.#failAt(ch);
    }
    if (st.expect === "comma_or_close" && ch === ",") {
      this.#raw += ch;
      st.expect = "element";
      return;
    }
    this.#raw = "";
    if (ch === "]") {
      if (st.expect === "element") this.#issues.push("dropped a trailing comma");
      this.#st = { k: "text" };
      return;
    }
    this.#issues.push("a list of calls was not closed");
    this.#toText(ch);
  }

  #mistral(st: State, ch: string): void {
    switch (st.k) {
      case "m_after_marker":
        if (WS.has(ch)) {
          this.#raw += ch;
          return;
        }
        if (ch === "[") {
          this.#raw += ch;
          this.#st = { k: "array", expect: "first", strict: false };
          return;
        }
        if (MISTRAL_NAME_CHAR.test(ch)) {
          this.#raw += ch;
          this.#st = { k: "m_name", name: ch };
          return;
        }
        return this.#failAt(ch);
      case "m_name":
        if (MISTRAL_NAME_CHAR.test(ch)) {
          this.#raw += ch;
          st.name += ch;
          return;
        }
        if (ch === "[") {
          this.#raw += ch;
          this.#st = { k: "m_tag", name: st.name, tag: ch, afterId: false };
          return;
        }
        return this.#failAt(ch);
      case "m_tag": {
        const s = st.tag + ch;
        if (s === TOOL_MARKERS.mistralArgs) {
          this.#raw += ch;
          if (!this.#acceptName(st.name)) return this.#release();
          this.#st = { k: "m_args_ws", name: st.name };
          return;
        }
        if (!st.afterId && s === TOOL_MARKERS.mistralCallId) {
          this.#raw += ch;
          this.#st = { k: "m_call_id", name: st.name };
          return;
        }
        if (
          TOOL_MARKERS.mistralArgs.startsWith(s) ||
          (!st.afterId && TOOL_MARKERS.mistralCallId.startsWith(s))
        ) {
          this.#raw += ch;
          st.tag = s;
          return;
        }
        return this.#failAt(ch);
      }
      case "m_call_id":
        if (ch === "[") {
          this.#raw += ch;
          this.#st = { k: "m_tag", name: st.name, tag: ch, afterId: true };
          return;
        }
        if (WS.has(ch) || ch === "{") return this.#failAt(ch);
        this.#raw += ch;
        return;
      case "m_args_ws":
        if (WS.has(ch)) {
          this.#raw += ch;
          return;
        }
        if (ch !== "{") return this.#failAt(ch);
        this.#hooks.start(st.name);
        this.#st = { k: "m_args", val: new JsonValueStream() };
        return this.#feed(ch);
      case "m_args": {
        const r = st.val.push(ch);
        this.#hooks.args(st.val.take());
        if (r === "more") return;
        if (r === "error") {
          this.#issues.push("malformed arguments JSON; closed them at the last complete member");
          this.#hooks.args(st.val.closers());
          this.#hooks.end();
          this.#afterCall = true;
          this.#st = { k: "discard", until: TOOL_MARKERS.mistralCalls, matched: "" };
          return this.#feed(ch);
        }
        for (const repair of st.val.repairs) this.#issues.push(repair);
        this.#hooks.end();
        this.#callEnded("mistral");
        return;
      }
    }
  }
}
