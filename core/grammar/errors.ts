/** The error a schema we cannot honour raises, naming the keyword and where it sits. */

/** Escapes one JSON Pointer reference token. */
export function pointerToken(token: string | number): string {
  return String(token).replace(/~/g, "~0").replace(/\//g, "~1");
}

/**
 * A schema keyword that changes which documents are valid but that the grammar cannot
 * enforce (or a keyword whose value is malformed, or a schema nothing satisfies). The API
 * answers 400 with this message; `keyword` and `path` (a JSON Pointer to the schema object
 * holding the keyword, "" for the root) say exactly where.
 */
export class UnsupportedSchemaError extends Error {
  override readonly name = "UnsupportedSchemaError";

  constructor(
    readonly keyword: string,
    readonly path: string,
    readonly reason: string,
  ) {
    super(`JSON Schema keyword "${keyword}" at ${path === "" ? "the root" : path}: ${reason}`);
  }

  /** The same error with `prefix` (a JSON Pointer) put in front of its path. */
  under(prefix: string): UnsupportedSchemaError {
    return new UnsupportedSchemaError(this.keyword, prefix + this.path, this.reason);
  }
}

/**
 * A schema nested deeper than the converter goes (subschemas inside subschemas). Requests
 * are refused earlier for nesting (see `checkJsonSchema`); this keeps the converter itself
 * from overflowing the stack whatever it is given.
 */
export class SchemaTooDeepError extends UnsupportedSchemaError {
  constructor(path: string, readonly limit: number) {
    super("$depth", path, `subschemas nest more than ${limit} levels deep`);
    this.message = `JSON Schema at ${
      path === "" ? "the root" : path
    }: subschemas nest more than ${limit} levels deep`;
  }

  override under(prefix: string): UnsupportedSchemaError {
    return new SchemaTooDeepError(prefix + this.path, this.limit);
  }
}
