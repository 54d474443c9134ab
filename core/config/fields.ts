/**
 * zod field builders shared by the config schemas. Each one states its
 * expectation in words ("an integer >= 1"), which becomes the "expected ..."
 * part of an error message.
 */
import { z } from "zod";
import { DURATION_EXPECTED, formatDuration, parseDuration } from "./duration.ts";
import { HOST_PORT_EXPECTED, normalizeHostPort, splitHostPort } from "./host_port.ts";

/** An integer, optionally bounded (inclusive). */
export function integer(bounds: { min?: number; max?: number } = {}) {
  const { min, max } = bounds;
  const expected = min !== undefined && max !== undefined
    ? `an integer from ${min} to ${max}`
    : min !== undefined
    ? `an integer >= ${min}`
    : max !== undefined
    ? `an integer <= ${max}`
    : "an integer";
  let s = z.int({ error: expected });
  if (min !== undefined) s = s.min(min, { error: expected });
  if (max !== undefined) s = s.max(max, { error: expected });
  return s;
}

/** A finite number within inclusive bounds. */
export function number(bounds: { min: number; max: number }) {
  const expected = `a number from ${bounds.min} to ${bounds.max}`;
  return z.number({ error: expected }).min(bounds.min, { error: expected }).max(bounds.max, {
    error: expected,
  });
}

/** A non-empty string (`what` names it in errors, e.g. "a non-empty token"). */
export function nonEmptyString(what = "a non-empty string") {
  return z.string({ error: what }).min(1, { error: what });
}

/** A filesystem path as written; resolution against the config's directory happens after validation. */
export function pathString() {
  return z.string({ error: "a path (a non-empty string)" }).min(1, {
    error: "a path (a non-empty string)",
  }).refine((s) => !s.includes("\0"), { error: "a path without NUL characters" });
}

/** A duration (see duration.ts), normalised to milliseconds; `min` in ms. */
export function duration(bounds: { min?: number } = {}) {
  const min = bounds.min ?? 0;
  const expected = min > 0
    ? `${DURATION_EXPECTED}, at least ${formatDuration(min)}`
    : DURATION_EXPECTED;
  return z.any().transform((v, ctx): number => {
    let ms: number;
    try {
      ms = parseDuration(v);
    } catch (e) {
      ctx.addIssue({
        code: "custom",
        message: expected,
        params: {
          found: v === undefined
            ? undefined
            : `${JSON.stringify(v) ?? String(v)} (${(e as Error).message})`,
        },
      });
      return z.NEVER;
    }
    if (ms < min) {
      ctx.addIssue({
        code: "custom",
        message: expected,
        params: { found: `${JSON.stringify(v)} (${ms}ms)` },
      });
      return z.NEVER;
    }
    return ms;
  });
}

/** A listen address, normalised (":31313" → "0.0.0.0:31313"). */
export function hostPort() {
  return z.any().transform((v, ctx): string => {
    if (typeof v !== "string") {
      ctx.addIssue({ code: "custom", message: HOST_PORT_EXPECTED });
      return z.NEVER;
    }
    try {
      return normalizeHostPort(v);
    } catch (e) {
      ctx.addIssue({
        code: "custom",
        message: HOST_PORT_EXPECTED,
        params: { found: `${JSON.stringify(v)} (${(e as Error).message})` },
      });
      return z.NEVER;
    }
  });
}

const RPC_ENDPOINT_EXPECTED =
  'host:port of an rpc-server like "10.0.0.5:50052" (an IPv4 address or host name, port 1-65535)';

/**
 * An RPC server to connect to. Not a listen address: a host is needed and port 0 means nothing;
 * and llama.cpp's RPC client splits at the first ":" and resolves IPv4 only, so an IPv6 literal
 * would abort in ggml instead of failing here.
 */
export function rpcEndpoint() {
  return z.any().transform((v, ctx): string => {
    const refuse = (why?: string) => {
      ctx.addIssue({
        code: "custom",
        message: RPC_ENDPOINT_EXPECTED,
        params: why === undefined ? {} : { found: `${JSON.stringify(v)} (${why})` },
      });
      return z.NEVER;
    };
    if (typeof v !== "string") return refuse();
    let hp;
    try {
      hp = splitHostPort(v);
    } catch (e) {
      return refuse((e as Error).message);
    }
    if (v.trim().startsWith(":")) return refuse("no host");
    if (hp.hostname.includes(":")) return refuse("an IPv6 address");
    if (hp.port === 0) return refuse("port 0");
    return `${hp.hostname}:${hp.port}`;
  });
}

const HTTP_URL_EXPECTED = 'an http(s) URL like "http://10.0.0.5:13131"';

/** An http(s) base URL, normalised without a trailing slash so callers can append paths. */
export function httpUrl() {
  return z.any().transform((v, ctx): string => {
    if (typeof v !== "string") {
      ctx.addIssue({ code: "custom", message: HTTP_URL_EXPECTED });
      return z.NEVER;
    }
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      ctx.addIssue({
        code: "custom",
        message: HTTP_URL_EXPECTED,
        params: { found: `${JSON.stringify(v)} (not a URL)` },
      });
      return z.NEVER;
    }
    const problem = url.protocol !== "http:" && url.protocol !== "https:"
      ? `scheme "${url.protocol.slice(0, -1)}"`
      : url.search !== "" || url.hash !== ""
      ? "a query or fragment"
      : url.username !== "" || url.password !== ""
      ? "credentials in the URL (use token instead)"
      : undefined;
    if (problem !== undefined) {
      ctx.addIssue({
        code: "custom",
        message: HTTP_URL_EXPECTED,
        params: { found: `${JSON.stringify(v)} (${problem})` },
      });
      return z.NEVER;
    }
    return url.href.replace(/\/+$/, "");
  });
}

/** Names of neurons: what `pinned_on` refers to and what metrics label nodes with. */
export const NEURON_NAME_PATTERN = /^[A-Za-z0-9_.-]+$/;

export function neuronName() {
  const expected = "a neuron name of letters, digits, '_', '.' or '-'";
  return z.string({ error: expected }).regex(NEURON_NAME_PATTERN, { error: expected });
}
