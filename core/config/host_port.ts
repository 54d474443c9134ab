/**
 * Listen addresses: "host:port", "[v6]:port", or ":port" for all interfaces
 * (normalised to "0.0.0.0:port"). Port 0 asks the OS for a free port.
 */

export const HOST_PORT_EXPECTED = 'host:port like "127.0.0.1:31313" or ":31313" (all interfaces)';

export interface HostPort {
  /** Host name or IP without brackets, ready for `Deno.serve({ hostname })`. */
  hostname: string;
  port: number;
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const IPV6 = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/;

/** Splits and validates a listen address; throws a RangeError naming the problem. */
export function splitHostPort(value: string): HostPort {
  const text = value.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new RangeError("a URL (give host:port without a scheme)");
  }
  const colon = text.lastIndexOf(":");
  if (colon < 0) throw new RangeError("no port (add :PORT)");
  let host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new RangeError(`port "${portText}" is not a number from 0 to 65535`);
  }
  if (host === "") host = "0.0.0.0";
  else if (host.startsWith("[") && host.endsWith("]")) {
    host = host.slice(1, -1);
    if (!host.includes(":") || !IPV6.test(host)) {
      throw new RangeError(`"${host}" is not an IPv6 address`);
    }
  } else if (host.includes(":")) {
    throw new RangeError("an IPv6 address without brackets (write [::1]:PORT)");
  } else if (!HOSTNAME.test(host)) {
    throw new RangeError(`"${host}" is not a host name or IP address`);
  }
  return { hostname: host, port: Number(portText) };
}

/** Normalises a listen address to its canonical string ("[::1]:80", "0.0.0.0:31313"). */
export function normalizeHostPort(value: string): string {
  const { hostname, port } = splitHostPort(value);
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
