/**
 * Test support: ajv set up to judge documents against the test schemas, with the string
 * formats checked by independent rules (after ajv-formats' "full" mode), so a grammar's
 * output is validated by something other than the grammar's own idea of a format.
 */
import { Ajv } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(y: number): boolean {
  return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
}

function date(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return mo >= 1 && mo <= 12 && d >= 1 && d <= (mo === 2 && isLeap(y) ? 29 : DAYS[mo - 1]);
}

function time(s: string): boolean {
  const m = /^(\d\d):(\d\d):(\d\d)(\.\d+)?(z|([+-])(\d\d):?(\d\d))$/i.exec(s);
  if (!m) return false;
  const [h, mi, sec] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const tz = m[6] ? Number(m[7]) <= 23 && Number(m[8]) <= 59 : true;
  return h <= 23 && mi <= 59 && sec <= 59 && tz;
}

function dateTime(s: string): boolean {
  const parts = s.split(/t|\s/i);
  return parts.length === 2 && date(parts[0]) && time(parts[1]);
}

const FORMATS: Record<string, (s: string) => boolean> = {
  date,
  time,
  "date-time": dateTime,
  uuid: (s) => /^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(s),
  ipv4: (s) =>
    /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(s),
  email: (s) =>
    /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i
      .test(s),
  // RFC 3986: scheme ":" then URI characters with well-formed percent-escapes.
  uri: (s) =>
    /^[a-z][a-z0-9+.-]*:(?:[a-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-f]{2})*(?:#(?:[a-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-f]{2})*)?$/i
      .test(s),
};

export type Draft = "2020-12" | "draft-07";

/** Validates `doc` against `schema` with ajv (strict mode, our formats). */
export function makeValidator(
  schema: unknown,
  draft: Draft = "2020-12",
): (doc: unknown) => boolean {
  // Strict about the schema itself; the type/tuple style lints are not about validity.
  const opts = { strict: true, strictTypes: false, strictTuples: false, formats: FORMATS };
  const ajv = draft === "draft-07" ? new Ajv(opts) : new Ajv2020(opts);
  return ajv.compile(schema as object) as (doc: unknown) => boolean;
}
