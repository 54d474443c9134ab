/**
 * HTTPS for the API listener (`[gateway] tls_cert` and `tls_key`) and CAs
 * for neurons' https endpoints (`[[neurons]] ca_cert`): PEM files read once
 * at start. A file that cannot be read, or does not hold
 * what its key says, stops the start with a ConfigError (exit 2).
 */

import { ConfigError, makeIssue } from "../core/config/mod.ts";

export interface TlsFiles {
  cert: string;
  key: string;
}

/** The certificate chain and key named in `[gateway]`, or null when HTTPS is off. */
export async function readTlsFiles(
  gateway: { tls_cert?: string; tls_key?: string },
  file: string,
): Promise<TlsFiles | null> {
  if (gateway.tls_cert === undefined || gateway.tls_key === undefined) return null;
  const cert = await readPem(file, "gateway.tls_cert", gateway.tls_cert, "CERTIFICATE");
  const key = await readPem(file, "gateway.tls_key", gateway.tls_key, "PRIVATE KEY");
  return { cert, key };
}

/** A PEM file's text; a ConfigError naming `file` and `keyPath` when it is missing or wrong. */
export async function readPem(file: string, keyPath: string, path: string, label: string) {
  const expected = `a readable PEM file holding a ${label}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new ConfigError([
      makeIssue({ file, keyPath, expected, found: `"${path}" (${(e as Error).message})` }),
    ]);
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(text)) {
    throw new ConfigError([
      makeIssue({ file, keyPath, expected, found: `"${path}", which holds no ${label} block` }),
    ]);
  }
  return text;
}
