/**
 * Who a request is, by its key: `[auth] api_keys` use the model APIs,
 * `[auth] admin_keys` also change the fleet (load, unload, pull). With no
 * operator keys configured the API keys do both, as before there were any;
 * with no keys at all the gateway is open. Keys are compared in constant time.
 */

import { bearerToken, matchesAnyKey } from "../core/auth.ts";

export type Access = "none" | "api" | "admin";

export interface Keys {
  apiKeys: readonly string[];
  adminKeys: readonly string[];
}

export function accessOf(keys: Keys, headers: Headers): Access {
  if (!keys.apiKeys.length && !keys.adminKeys.length) return "admin";
  const given = bearerToken(headers) ?? headers.get("x-api-key");
  if (given === null) return "none";
  // Both lists are always compared, so the time taken does not say which list holds a key.
  const admin = matchesAnyKey(given, keys.adminKeys);
  const api = matchesAnyKey(given, keys.apiKeys);
  if (admin) return "admin";
  if (api) return keys.adminKeys.length ? "api" : "admin";
  return "none";
}
