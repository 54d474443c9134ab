/**
 * Where a schema's local `$ref` (`#`, `#/$defs/a`) points, by RFC 6901; shared by the schema
 * check (which refuses a dangling one by the caller's field name) and the grammar builder.
 */

export type RefTarget = { pointer: string; target: unknown } | { problem: string };

export function resolveLocalRef(doc: unknown, ref: string): RefTarget {
  if (!ref.startsWith("#")) {
    return { problem: `only references inside the schema (#/…) are supported: ${ref}` };
  }
  let pointer: string;
  try {
    pointer = decodeURIComponent(ref.slice(1));
  } catch {
    return { problem: `malformed reference ${ref}` };
  }
  if (pointer !== "" && !pointer.startsWith("/")) {
    return { problem: `anchors are not supported: ${ref}` };
  }
  let target = doc;
  if (pointer !== "") {
    for (const raw of pointer.slice(1).split("/")) {
      const token = raw.replace(/~1/g, "/").replace(/~0/g, "~");
      if (Array.isArray(target) && /^(0|[1-9][0-9]*)$/.test(token)) target = target[+token];
      else if (isObject(target) && Object.hasOwn(target, token)) target = target[token];
      else return { problem: `${ref} does not point into the schema` };
    }
  }
  return { pointer, target };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
