/** Renders a TOML value for the "found ..." part of an error message. */

const MAX_SHOWN = 60;

function clip(s: string): string {
  return s.length <= MAX_SHOWN ? s : `${s.slice(0, MAX_SHOWN - 1)}…`;
}

/** Secrets never appear in error messages, only their shape. */
export function describeValue(value: unknown, secret = false): string {
  if (value === undefined) return "nothing (the key is missing)";
  if (value === null) return "null";
  if (typeof value === "string") {
    if (secret) {
      return value === ""
        ? '"" (an empty string)'
        : `a string (${value.length} characters, hidden)`;
    }
    return clip(JSON.stringify(value));
  }
  if (typeof value === "number" || typeof value === "bigint") {
    return secret ? `a number (hidden)` : String(value);
  }
  if (typeof value === "boolean") return String(value);
  if (value instanceof Date) return `a date-time (${value.toISOString()})`;
  if (Array.isArray(value)) {
    if (secret) return `an array of ${value.length} items`;
    let shown: string;
    try {
      shown = JSON.stringify(value);
    } catch {
      shown = `[${value.length} items]`;
    }
    return `an array ${clip(shown)}`;
  }
  if (typeof value === "object") {
    // smol-toml dates are Date subclasses; anything else object-shaped is a table.
    return "a table";
  }
  return typeof value;
}
