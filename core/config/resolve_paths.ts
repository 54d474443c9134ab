/**
 * Relative paths in a config file mean "next to this file", so a service
 * started from any working directory finds the same files. Values from the
 * environment have no file and stay relative to the working directory.
 */
import { dirname, isAbsolute, join } from "node:path";
import { isPathPrefix, type PathSegment } from "./key_path.ts";

/** Options of the pure `parse*Config` functions. */
export interface ParseOptions {
  /**
   * Directory that relative paths in the file are resolved against. Defaults
   * to the directory part of the file label; `null` leaves them as written.
   */
  baseDir?: string | null;
}

export function baseDirOf(fileLabel: string, options: ParseOptions): string | null {
  return options.baseDir === undefined ? dirname(fileLabel) : options.baseDir;
}

/** Resolves `value` (found at key `path`) against `baseDir` unless it is absolute or came from the environment. */
export function resolveFromFile(
  value: string,
  path: readonly PathSegment[],
  baseDir: string | null,
  envPaths: readonly (readonly PathSegment[])[],
): string {
  if (baseDir === null || isAbsolute(value)) return value;
  if (envPaths.some((p) => isPathPrefix(p, path))) return value;
  return join(baseDir, value);
}
