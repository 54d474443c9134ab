/**
 * Parsing and checking of command-line values shared by the operator
 * commands. Parsers throw commander's InvalidArgumentError, which commander
 * reports with the option's name and which `cortex` turns into exit code 2.
 */

import { InvalidArgumentError } from "commander";
import { parseDuration } from "../core/config/mod.ts";
import { usageError } from "./cli_error.ts";

export const DEFAULT_URL = "http://127.0.0.1:31313";

/** Global options every operator command sees. */
export interface GlobalOptions {
  url: string;
  apiKey?: string;
}

/**
 * The server's base URL: http(s) only, no trailing slash, and a trailing
 * `/v1` dropped so an OpenAI-style base URL works as well.
 */
export function normalizeBaseUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw usageError(`--url: expected an http(s) URL such as ${DEFAULT_URL}, got "${raw}"`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw usageError(`--url: expected an http(s) URL, got the scheme "${u.protocol}"`);
  }
  if (u.search || u.hash) {
    throw usageError(`--url: expected a base URL without a query or fragment, got "${raw}"`);
  }
  const path = u.pathname.replace(/\/+$/, "").replace(/\/v1$/, "");
  return `${u.origin}${path}`;
}

/** An integer option value within [min, max]. */
export function intOption(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) {
      throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
    }
    const n = Number(value);
    if (n < min || n > max) {
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER
          ? `expected at least ${min}, got ${n}`
          : `expected ${min} to ${max}, got ${n}`,
      );
    }
    return n;
  };
}

/** A number within [min, max]. */
export function numberOption(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value.trim());
    if (value.trim() === "" || !Number.isFinite(n)) {
      throw new InvalidArgumentError(`expected a number, got "${value}"`);
    }
    if (n < min || n > max) throw new InvalidArgumentError(`expected ${min} to ${max}, got ${n}`);
    return n;
  };
}

/** A positive duration: "30s", "2m", "1m30s", "500ms", or a number of seconds. */
export function durationOption(value: string): number {
  const text = value.trim();
  let ms: number;
  try {
    ms = parseDuration(/^\d+(\.\d+)?$/.test(text) ? Number(text) : text);
  } catch (e) {
    throw new InvalidArgumentError(
      `expected a duration like "30s", "2m" or a number of seconds; "${value}" is ${
        (e as Error).message
      }`,
    );
  }
  if (ms <= 0) throw new InvalidArgumentError(`expected a duration above zero, got "${value}"`);
  return ms;
}

/** A non-empty name (model, node). */
export function nameOption(what: string) {
  return (value: string): string => {
    if (!value.trim()) throw new InvalidArgumentError(`expected a ${what}, got an empty string`);
    return value;
  };
}
