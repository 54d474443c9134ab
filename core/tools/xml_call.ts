/**
 * Reads one block of XML-style tool calls (Qwen3-Coder's `<function=…>`, GLM's `<arg_key>`,
 * MiniMax's `<invoke …>`; tags in xml_dialect.ts), a character at a time, after its opening
 * tag. Arguments are built as JSON text while the parameters arrive: `{`, then per
 * parameter `"key": ` and its value, then `}`. A string parameter streams as it is written
 * (escaped for JSON); any other type is converted when its value closes (param_types.ts).
 *
 * A value is raw text, so its closing tag is only taken for one when what follows it (after
 * whitespace) is the next tag of the call (`<parameter=`, `</function>`, `</tool_call>`) or
 * the end of the output: `</parameter>` inside a file's text stays part of the value.
 *
 * Before the block's first call is announced every problem is a `fail`: the caller gives
 * the text back as content. After that the block's calls stay calls: damage closes the
 * open call's arguments after its last complete parameter and the rest of the block is
 * dropped; a call to an unknown tool after known ones stays in the content, verbatim.
 */
import type { CallHooks } from "./call_object.ts";
import { convertValue, describeType, isPlainString, type ParamType } from "./param_types.ts";
import type { ToolParamTypes } from "./param_types.ts";
import type { XmlDialect } from "./xml_dialect.ts";

export interface XmlHooks extends CallHooks {
  /** Content inside the block: a call to an unknown tool after known ones. */
  text(text: string): void;
}

export interface XmlPush {
  /** more: consumed, the block goes on; done: the block ended; fail: it is not a call. */
  status: "more" | "done" | "fail";
  /** On fail: what was read that is content, verbatim. */
  keep?: string;
  /** Text the caller reads again (it ends with the character pushed, if that was not used). */
  give?: string;
}

interface Value {
  key: string;
  /** undefined: a repeated parameter, read and dropped */
  type: ParamType | undefined;
  plain: boolean;
  /** the text of a typed value so far */
  raw: string;
  /** nothing read yet (a wrapping newline may come) */
  fresh: boolean;
  /** a newline that may be the wrapping one before the closing tag */
  heldNl: boolean;
  /** what may be the closing tag, the whitespace after it and the start of the next tag */
  held: string;
  phase: "text" | "tag" | "ws" | "next";
  /** where the next tag starts in `held` */
  nextAt: number;
}

type State =
  | { k: "call"; got: string }
  | { k: "name"; text: string }
  | { k: "lit"; want: string; got: string; ws: boolean; then: () => XmlPush | undefined }
  | { k: "params"; got: string }
  | { k: "key"; text: string }
  | { k: "value"; v: Value }
  | { k: "verbatim"; got: string }
  | { k: "discard"; got: string }
  | { k: "closed" };

const WS = new Set([" ", "\t", "\n", "\r"]);
/** Names and keys are short identifiers; a longer run is not one. */
const MAX_NAME = 256;
const NOT_IN_NAME = new Set(["<", ">", '"', "'", "{", "}", "\n", "\r", "\t", " "]);
const MORE: XmlPush = { status: "more" };

/** Which of `alts` the text matches: one of them, "partial" (a prefix), or undefined. */
function matchTag(text: string, alts: readonly string[]): string | "partial" | undefined {
  let partial = false;
  for (const a of alts) {
    if (a === text) return a;
    if (a.startsWith(text)) partial = true;
  }
  return partial ? "partial" : undefined;
}

function escapeJson(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

/** Can `name` be written as a call's name and read back as the same name? */
export function isWritableName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME &&
    Array.from(name).every((c) => !NOT_IN_NAME.has(c) && c >= " ");
}

/** Can `key` be written as a parameter name in `dialect` and read back as the same key? */
export function isWritableKey(key: string, dialect: XmlDialect): boolean {
  return key.length > 0 && key.length <= MAX_NAME && cleanKey(key) === key &&
    Array.from(key).every((c) =>
      c >= " " && c !== "<" && c !== ">" && c !== '"' && c !== dialect.keyClose[0]
    );
}

/** `"name"` or `'name'` as written by some models: the name inside. */
function cleanKey(text: string): string {
  const t = text.trim();
  if (t.length >= 2 && (t[0] === '"' || t[0] === "'") && t.at(-1) === t[0]) {
    return t.slice(1, -1);
  }
  return t;
}

export class XmlBlockParser {
  readonly #d: XmlDialect;
  /** What may follow a value's closing tag. */
  readonly #next: string[];
  #st: State;
  /** everything read while no call of the block was announced */
  #raw = "";
  /** the text of the call being read, until it is announced */
  #callText = "";
  #reading = false;
  #started = false;
  #open = false;
  #name = "";
  #keys = new Set<string>();
  #members = 0;

  constructor(
    private readonly hooks: XmlHooks,
    dialect: XmlDialect,
    private readonly types: ToolParamTypes,
    /** The block began with `nameOpen` (no opening tag). */
    bare = false,
  ) {
    this.#d = dialect;
    this.#next = [...new Set([dialect.keyOpen, dialect.callClose ?? dialect.close, dialect.close])];
    if (bare) {
      this.#reading = true;
      this.#callText = dialect.nameOpen;
      this.#st = { k: "name", text: "" };
    } else {
      this.#st = { k: "call", got: "" };
    }
  }

  /** True once a call of this block was announced. */
  get started(): boolean {
    return this.#started;
  }

  push(ch: string): XmlPush {
    if (!this.#started) this.#raw += ch;
    if (this.#reading) this.#callText += ch;
    return this.#step(ch) ?? MORE;
  }

  /** End of output inside the block. */
  eof(): XmlPush {
    const st = this.#st;
    if (!this.#started) {
      this.#st = { k: "closed" };
      return { status: "fail", keep: this.#raw };
    }
    if (this.#open) {
      if (st.k === "value") {
        const v = st.v;
        // A partial closing tag at the very end is taken for the closing tag.
        const closed = v.phase === "ws" || v.phase === "next";
        this.hooks.issue(closed ? "a call was not closed" : "arguments were cut off; closed them");
        this.#endValue(v);
      } else {
        this.hooks.issue(
          st.k === "params" && !st.got
            ? "a call was not closed"
            : "arguments were cut off; closed them",
        );
      }
      this.#endCall();
    }
    this.#st = { k: "closed" };
    return { status: "done" };
  }

  // ---------------------------------------------------------------------------------------

  /**
   * Reads `text` again (it was counted in #raw / #callText when first pushed; this only
   * happens once a call is announced). A result that ends the block carries what was left.
   */
  #run(text: string): XmlPush | undefined {
    const chars = Array.from(text);
    for (let i = 0; i < chars.length; i++) {
      const r = this.#step(chars[i]);
      if (r && r.status !== "more") {
        return { ...r, give: (r.give ?? "") + chars.slice(i + 1).join("") };
      }
    }
    return undefined;
  }

  #step(ch: string): XmlPush | undefined {
    const st = this.#st;
    switch (st.k) {
      case "call":
        return this.#call(st, ch);
      case "name":
        return this.#nameChar(st, ch);
      case "lit": {
        if (st.ws && !st.got && WS.has(ch)) return;
        const s = st.got + ch;
        if (!st.want.startsWith(s)) {
          return this.#open ? this.#damage(`expected ${st.want}`, ch) : this.#notACall(s);
        }
        if (s !== st.want) {
          st.got = s;
          return;
        }
        return st.then();
      }
      case "params":
        return this.#params(st, ch);
      case "key":
        return this.#keyChar(st, ch);
      case "value":
        return this.#value(st.v, ch);
      case "verbatim":
        return this.#verbatim(st, ch);
      case "discard": {
        const close = this.#d.close;
        const s = st.got + ch;
        if (close.startsWith(s)) {
          if (s === close) return this.#finish();
          st.got = s;
        } else {
          st.got = close.startsWith(ch) ? ch : "";
        }
        return;
      }
      case "closed":
        return { status: "done", give: ch };
    }
  }

  #expect(want: string, then: () => XmlPush | undefined, ws = false): undefined {
    this.#st = { k: "lit", want, got: "", ws, then };
    return undefined;
  }

  /** Before a call: whitespace, then the call's opening tag (or the block's closing tag). */
  #call(st: Extract<State, { k: "call" }>, ch: string): XmlPush | undefined {
    const d = this.#d;
    if (!st.got && WS.has(ch)) return;
    if (d.nameOpen === "" && !this.#started) {
      this.#reading = true;
      this.#callText = ch;
      this.#st = { k: "name", text: "" };
      return this.#step(ch);
    }
    const s = st.got + ch;
    const m = matchTag(s, this.#started ? [d.nameOpen, d.close] : [d.nameOpen]);
    if (m === "partial") {
      st.got = s;
      return;
    }
    if (m === d.close) return this.#finish();
    if (m === d.nameOpen) {
      this.#reading = true;
      this.#callText = s;
      this.#st = { k: "name", text: "" };
      return;
    }
    if (!this.#started) return this.#fail(s);
    this.hooks.issue(`calls were not followed by ${d.close}`);
    this.#st = { k: "closed" };
    return { status: "done", give: s };
  }

  #nameChar(st: Extract<State, { k: "name" }>, ch: string): XmlPush | undefined {
    const d = this.#d;
    if (d.nameClose === undefined) {
      // The name runs to the end of its line or to the first tag.
      if (WS.has(ch)) return st.text ? this.#named(st.text, "") : undefined;
      if (ch === "<") return st.text ? this.#named(st.text, ch) : this.#notACall(ch);
    } else if (ch === d.nameClose[0]) {
      const name = st.text;
      if (!name) return this.#notACall(ch);
      if (d.nameClose.length === 1) return this.#named(name, "");
      return this.#expect(d.nameClose.slice(1), () => this.#named(name, ""));
    }
    if (NOT_IN_NAME.has(ch) || ch < " " || st.text.length >= MAX_NAME) return this.#notACall(ch);
    st.text += ch;
  }

  /** The call's name is complete; `give` is read again after it. */
  #named(name: string, give: string): XmlPush | undefined {
    if (!this.hooks.acceptName(name)) return this.#notACall(give);
    this.#reading = false;
    this.#callText = "";
    this.#started = true;
    this.#open = true;
    this.#name = name;
    this.#keys = new Set();
    this.#members = 0;
    this.hooks.start(name);
    this.hooks.args("{");
    this.#st = { k: "params", got: "" };
    return give ? this.#run(give) : undefined;
  }

  /**
   * What was read of this call is not a call. Before the block's first announcement that
   * makes the whole block content; after it, this call's text is content and the block goes
   * on after the call's closing tag.
   */
  #notACall(give: string): XmlPush | undefined {
    if (!this.#started) return this.#fail(give);
    const text = this.#callText.slice(0, this.#callText.length - give.length);
    this.#reading = false;
    this.#callText = "";
    this.hooks.text(text);
    this.#st = { k: "verbatim", got: "" };
    return this.#run(give);
  }

  #fail(give: string): XmlPush {
    this.#st = { k: "closed" };
    return { status: "fail", keep: this.#raw.slice(0, this.#raw.length - give.length), give };
  }

  #finish(): XmlPush {
    this.#st = { k: "closed" };
    return { status: "done" };
  }

  /** Between parameters: the next parameter, the end of the call or of the block. */
  #params(st: Extract<State, { k: "params" }>, ch: string): XmlPush | undefined {
    const d = this.#d;
    if (!st.got && WS.has(ch)) return;
    const s = st.got + ch;
    const m = matchTag(s, this.#next);
    if (m === undefined) {
      return this.#damage(`unexpected ${JSON.stringify(s)} between parameters`, ch);
    }
    if (m === "partial") {
      st.got = s;
      return;
    }
    if (m === d.keyOpen) {
      this.#st = { k: "key", text: "" };
      return;
    }
    if (m === d.callClose && m !== d.close) {
      this.#endCall();
      this.#st = { k: "call", got: "" };
      return;
    }
    if (d.callClose) this.hooks.issue(`a call was not closed with ${d.callClose}`);
    this.#endCall();
    return this.#finish();
  }

  #keyChar(st: Extract<State, { k: "key" }>, ch: string): XmlPush | undefined {
    const d = this.#d;
    if (ch === d.keyClose[0]) {
      const key = cleanKey(st.text);
      if (!key) return this.#damage("a parameter without a name", "");
      const value = () =>
        d.valueOpen
          ? this.#expect(d.valueOpen, () => this.#beginValue(key), true)
          : this.#beginValue(key);
      return d.keyClose.length > 1 ? this.#expect(d.keyClose.slice(1), value) : value();
    }
    if (ch === "<" || ch === ">" || ch === "\n" || st.text.length >= MAX_NAME) {
      return this.#damage("a malformed parameter name", ch);
    }
    st.text += ch;
  }

  #beginValue(key: string): undefined {
    let type: ParamType | undefined;
    if (this.#keys.has(key)) {
      this.hooks.issue(`dropped a repeated parameter "${key}"`);
    } else {
      this.#keys.add(key);
      type = this.types.of(this.#name, key);
    }
    const plain = type !== undefined && isPlainString(type);
    if (plain) this.hooks.args(this.#member(key) + '"');
    this.#st = {
      k: "value",
      v: {
        key,
        type,
        plain,
        raw: "",
        fresh: true,
        heldNl: false,
        held: "",
        phase: "text",
        nextAt: 0,
      },
    };
    return undefined;
  }

  #member(key: string): string {
    return (this.#members++ ? ", " : "") + JSON.stringify(key) + ": ";
  }

  #value(v: Value, ch: string): XmlPush | undefined {
    const close = this.#d.valueClose;
    switch (v.phase) {
      case "text":
        if (ch === close[0]) {
          v.held = ch;
          v.phase = "tag";
          return;
        }
        return this.#valueText(v, ch);
      case "tag": {
        const s = v.held + ch;
        if (!close.startsWith(s)) return this.#rewind(v, ch);
        v.held = s;
        if (s === close) v.phase = "ws";
        return;
      }
      case "ws":
        if (WS.has(ch)) {
          v.held += ch;
          return;
        }
        v.phase = "next";
        v.nextAt = v.held.length;
        // falls through: `ch` may begin the next tag
      case "next": {
        const m = matchTag(v.held.slice(v.nextAt) + ch, this.#next);
        if (m === undefined) return this.#rewind(v, ch);
        v.held += ch;
        if (m === "partial") return;
        // The value ended at the closing tag; what came after it is read again.
        const after = v.held.slice(close.length);
        this.#endValue(v);
        this.#st = { k: "params", got: "" };
        return this.#run(after);
      }
    }
  }

  /** The held text was not a closing tag: its first character is value text. */
  #rewind(v: Value, ch: string): XmlPush | undefined {
    const text = v.held + ch;
    v.held = "";
    v.phase = "text";
    this.#valueText(v, text[0]);
    return this.#run(text.slice(1));
  }

  #valueText(v: Value, ch: string): undefined {
    const wrapped = this.#d.newlineWrapped;
    if (v.fresh) {
      v.fresh = false;
      if (wrapped && ch === "\n") return;
    }
    if (!v.type) return;
    if (!v.plain) {
      v.raw += ch;
      return;
    }
    let out = "";
    if (v.heldNl) {
      out = "\n";
      v.heldNl = false;
    }
    if (wrapped && ch === "\n") v.heldNl = true;
    else out += ch;
    if (out) this.hooks.args(escapeJson(out));
  }

  #endValue(v: Value): void {
    if (!v.type) return;
    if (v.plain) {
      this.hooks.args('"');
      return;
    }
    let text = v.raw;
    if (this.#d.newlineWrapped && text.endsWith("\n")) text = text.slice(0, -1);
    const r = convertValue(text, v.type);
    if (r.mismatch) {
      this.hooks.issue(`parameter "${v.key}" is not ${describeType(v.type)}; kept it as text`);
    }
    this.hooks.args(this.#member(v.key) + r.json);
  }

  #endCall(): void {
    this.hooks.args("}");
    this.hooks.end();
    this.#open = false;
  }

  /** The open call cannot be read further: close it and drop the rest of the block. */
  #damage(why: string, give: string): XmlPush | undefined {
    this.hooks.issue(`malformed call (${why}); kept the parameters before it`);
    this.#endCall();
    this.#st = { k: "discard", got: "" };
    return give ? this.#run(give) : undefined;
  }

  /** A call that is content: copied out up to and including its closing tag. */
  #verbatim(st: Extract<State, { k: "verbatim" }>, ch: string): XmlPush | undefined {
    const end = this.#d.callClose ?? this.#d.close;
    this.hooks.text(ch);
    const s = st.got + ch;
    if (end.startsWith(s)) {
      if (s !== end) {
        st.got = s;
        return;
      }
      if (!this.#d.callClose) return this.#finish();
      this.#st = { k: "call", got: "" };
      return;
    }
    st.got = end.startsWith(ch) ? ch : "";
  }
}
