/**
 * Where a model's weights come from: a GGUF path inside the neuron's model
 * store, or a Hugging Face reference that the neuron downloads into the store.
 * Paths that could leave the store (absolute, `..`) are rejected here so that
 * a load request can never name an arbitrary file.
 */

export type ModelSource =
  /** `qwen3-8b-q4_k_m.gguf` or `qwen/qwen3-8b-q4_k_m.gguf`, relative to a model dir. */
  | { kind: "file"; path: string }
  /** `hf:org/repo/file.gguf` (file may sit in a subfolder of the repo). */
  | { kind: "hf"; repo: string; file: string }
  /** `hf:org/repo:QUANT`: the repo's GGUF file whose name carries that quantisation. */
  | { kind: "hf"; repo: string; quant: string };

export const MODEL_SOURCE_EXPECTED =
  'a .gguf path inside the model store (e.g. "qwen3-8b-q4_k_m.gguf"), "hf:org/repo/file.gguf" or "hf:org/repo:QUANT"';

const HF_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function checkRelativeFile(path: string, what: string): void {
  if (path === "") throw new RangeError(`an empty ${what}`);
  if (path.includes("\0")) throw new RangeError(`a NUL character in the ${what}`);
  if (/^[\\/]/.test(path) || /^[A-Za-z]:/.test(path) || path.startsWith("~")) {
    throw new RangeError(`an absolute ${what}`);
  }
  const segments = path.split(/[\\/]/);
  if (segments.includes("..")) throw new RangeError('a ".." segment that escapes the model store');
  if (segments.some((s) => s === "")) throw new RangeError(`an empty segment in the ${what}`);
  if (!/\.gguf$/i.test(path)) throw new RangeError(`a ${what} that does not end in .gguf`);
}

/** Parses a `source` value; throws a RangeError naming the problem. */
export function parseModelSource(source: string): ModelSource {
  if (source.startsWith("hf:")) {
    const ref = source.slice(3);
    const quantAt = ref.indexOf(":");
    if (quantAt >= 0) {
      const repo = ref.slice(0, quantAt);
      const quant = ref.slice(quantAt + 1);
      const parts = repo.split("/");
      if (parts.length !== 2 || !parts.every((p) => HF_NAME.test(p))) {
        throw new RangeError(`"${repo}" is not an org/repo name`);
      }
      if (!HF_NAME.test(quant)) throw new RangeError(`"${quant}" is not a quantisation name`);
      return { kind: "hf", repo, quant };
    }
    const parts = ref.split("/");
    if (parts.length < 3) throw new RangeError("an hf: reference without a file or :QUANT");
    const repo = `${parts[0]}/${parts[1]}`;
    if (!HF_NAME.test(parts[0]) || !HF_NAME.test(parts[1])) {
      throw new RangeError(`"${repo}" is not an org/repo name`);
    }
    const file = parts.slice(2).join("/");
    checkRelativeFile(file, "file path");
    return { kind: "hf", repo, file };
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]+:/.test(source)) {
    throw new RangeError(`an unsupported scheme "${source.slice(0, source.indexOf(":"))}:"`);
  }
  checkRelativeFile(source, "path");
  return { kind: "file", path: source };
}

/**
 * Whether `path` carries the quantisation `quant` as a whole token: not preceded by a letter
 * or digit and not followed by one or by `_` (so `Q4_K` does not pick `Q4_K_M`, nor `Q4_0`
 * pick `IQ4_0`). Case-insensitive.
 */
export function hasQuantTag(path: string, quant: string): boolean {
  const hay = path.toLowerCase();
  const needle = quant.toLowerCase();
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) {
    const before = i === 0 ? "" : hay[i - 1];
    const after = hay[i + needle.length] ?? "";
    if (!/[a-z0-9]/.test(before) && !/[a-z0-9_]/.test(after)) return true;
  }
  return false;
}
