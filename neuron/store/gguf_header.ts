/**
 * Reads the metadata of a GGUF file without loading it: enough to list a
 * model (context, architecture, chat template, reasoning markers) and to
 * estimate its memory before committing a device to it.
 */

export type GgufScalar = string | number | bigint | boolean;
export type GgufValue = GgufScalar | GgufScalar[];

export interface GgufHeader {
  version: number;
  tensorCount: number;
  metadata: Map<string, GgufValue>;
}

export class GgufError extends Error {
  override name = "GgufError";
}

const T = {
  U8: 0,
  I8: 1,
  U16: 2,
  I16: 3,
  U32: 4,
  I32: 5,
  F32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  U64: 10,
  I64: 11,
  F64: 12,
} as const;

/** Grows its window over the file on demand; metadata can be megabytes (vocabularies). */
class Reader {
  #file: Deno.FsFile;
  #buf = new Uint8Array(0);
  #dv = new DataView(this.#buf.buffer);
  #pos = 0;
  #eof = false;
  #decoder = new TextDecoder();

  constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  async need(n: number): Promise<void> {
    while (this.#buf.length - this.#pos < n) {
      if (this.#eof) throw new GgufError("file ends inside the GGUF header");
      const chunk = new Uint8Array(Math.max(1 << 20, n));
      const got = await this.#file.read(chunk);
      if (got === null) {
        this.#eof = true;
        continue;
      }
      const rest = this.#buf.subarray(this.#pos);
      const next = new Uint8Array(rest.length + got);
      next.set(rest);
      next.set(chunk.subarray(0, got), rest.length);
      this.#buf = next;
      this.#dv = new DataView(next.buffer);
      this.#pos = 0;
    }
  }

  async u32(): Promise<number> {
    await this.need(4);
    const v = this.#dv.getUint32(this.#pos, true);
    this.#pos += 4;
    return v;
  }

  async u64(): Promise<bigint> {
    await this.need(8);
    const v = this.#dv.getBigUint64(this.#pos, true);
    this.#pos += 8;
    return v;
  }

  async count(): Promise<number> {
    const v = await this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError("implausible count in header");
    return Number(v);
  }

  async string(): Promise<string> {
    const n = await this.count();
    if (n > 64 << 20) throw new GgufError("implausible string length in header");
    await this.need(n);
    const s = this.#decoder.decode(this.#buf.subarray(this.#pos, this.#pos + n));
    this.#pos += n;
    return s;
  }

  async scalar(type: number): Promise<GgufScalar> {
    const sizes: Record<number, number> = {
      0: 1,
      1: 1,
      2: 2,
      3: 2,
      4: 4,
      5: 4,
      6: 4,
      7: 1,
      10: 8,
      11: 8,
      12: 8,
    };
    if (type === T.STRING) return await this.string();
    const size = sizes[type];
    if (size === undefined) throw new GgufError(`unknown GGUF value type ${type}`);
    await this.need(size);
    const dv = this.#dv;
    const p = this.#pos;
    this.#pos += size;
    switch (type) {
      case T.U8:
        return dv.getUint8(p);
      case T.I8:
        return dv.getInt8(p);
      case T.U16:
        return dv.getUint16(p, true);
      case T.I16:
        return dv.getInt16(p, true);
      case T.U32:
        return dv.getUint32(p, true);
      case T.I32:
        return dv.getInt32(p, true);
      case T.F32:
        return dv.getFloat32(p, true);
      case T.BOOL:
        return dv.getUint8(p) !== 0;
      case T.U64:
        return dv.getBigUint64(p, true);
      case T.I64:
        return dv.getBigInt64(p, true);
      default:
        return dv.getFloat64(p, true);
    }
  }

  async value(type: number): Promise<GgufValue> {
    if (type !== T.ARRAY) return await this.scalar(type);
    const inner = await this.u32();
    const n = await this.count();
    const out: GgufScalar[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = await this.scalar(inner);
    return out;
  }
}

/** Parses the header (metadata only; tensor infos are skipped). */
export async function readGgufHeader(path: string): Promise<GgufHeader> {
  const file = await Deno.open(path, { read: true });
  try {
    const r = new Reader(file);
    const magic = await r.u32();
    if (magic !== 0x46554747) throw new GgufError(`${path} is not a GGUF file`);
    const version = await r.u32();
    if (version < 2 || version > 3) {
      throw new GgufError(`${path}: unsupported GGUF version ${version}`);
    }
    const tensorCount = await r.count();
    const kvCount = await r.count();
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < kvCount; i++) {
      const key = await r.string();
      const type = await r.u32();
      metadata.set(key, await r.value(type));
    }
    return { version, tensorCount, metadata };
  } finally {
    file.close();
  }
}

export function metaNumber(h: GgufHeader, key: string): number | undefined {
  const v = h.metadata.get(key);
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

export function metaString(h: GgufHeader, key: string): string | undefined {
  const v = h.metadata.get(key);
  return typeof v === "string" ? v : undefined;
}
