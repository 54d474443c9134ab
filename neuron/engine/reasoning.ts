/**
 * Reasoning markers: found in the vocabulary at load, never by model name.
 *
 * A pair counts only when both markers are single tokens, so the engine can
 * route by token id and the markers never reach the text stream.
 */

export interface MarkerPair {
  open: string;
  close: string;
  openToken: number;
  closeToken: number;
}

/** Pairs open models use, in probe order. */
export const MARKER_CANDIDATES: ReadonlyArray<readonly [string, string]> = [
  ["<think>", "</think>"],
  ["[THINK]", "[/THINK]"],
  ["<thinking>", "</thinking>"],
  ["<|begin_of_thought|>", "<|end_of_thought|>"],
  ["<|channel|>analysis", "<|end|>"],
  ["<seed:think>", "</seed:think>"],
  ["◁think▷", "◁/think▷"],
  ["<reasoning>", "</reasoning>"],
];

export function findMarkers(
  singleToken: (text: string) => number | undefined,
): MarkerPair | null {
  for (const [open, close] of MARKER_CANDIDATES) {
    const openToken = singleToken(open);
    const closeToken = singleToken(close);
    if (openToken !== undefined && closeToken !== undefined && openToken !== closeToken) {
      return { open, close, openToken, closeToken };
    }
  }
  return null;
}

/**
 * Whether generation starts inside a reasoning block: the prompt's last
 * marker is an opening one (templates that pre-open `<think>`).
 */
export function promptOpensReasoning(
  prompt: ArrayLike<number>,
  markers: MarkerPair | null,
): boolean {
  if (!markers) return false;
  for (let i = prompt.length - 1; i >= 0; i--) {
    if (prompt[i] === markers.openToken) return true;
    if (prompt[i] === markers.closeToken) return false;
  }
  return false;
}
