/**
 * docker's `--filter key=value` flags (api/types/filters): parsing, key validation and label matching.
 * Shared by the CLI and the API so both accept and refuse the same filters.
 */
import { invalidArgument } from '../errors.js';

/** Filter values by key, in first-seen order, without duplicates (docker keeps a set per key). */
export type Filters = Map<string, string[]>;

/**
 * Parses `--filter` flags. Like docker's filters.ParseFlag, the key is trimmed and lower-cased, the value
 * trimmed, empty flags are ignored, and a flag without `=` fails with `invalid_argument`
 * "bad format of filter (expected name=value)". With `allowed`, any other key fails with
 * "invalid filter 'foo'" (docker's Args.Validate).
 */
export function parseFilters(flags: readonly string[], allowed?: readonly string[]): Filters {
  const m: Filters = new Map();
  for (const f of flags) {
    if (f === '') continue;
    const eq = f.indexOf('=');
    if (eq < 0) throw invalidArgument('bad format of filter (expected name=value)', { hint: 'write --filter key=value' });
    const key = f.slice(0, eq).trim().toLowerCase();
    const value = f.slice(eq + 1).trim();
    const list = m.get(key) ?? [];
    if (!list.includes(value)) list.push(value);
    m.set(key, list);
  }
  if (allowed) validateFilters(m, allowed);
  return m;
}

/** Fails with `invalid_argument` "invalid filter 'k'" for the first key not in `allowed`. */
export function validateFilters(filters: Filters, allowed: readonly string[]): void {
  for (const k of filters.keys()) {
    if (!allowed.includes(k)) {
      throw invalidArgument(`invalid filter '${k}'`, { hint: `valid filters: ${allowed.join(', ')}` });
    }
  }
}

/** One `label=` filter value: `k=v` (key must exist with that value) or `k` (key must exist). */
export interface LabelFilter {
  key: string;
  value?: string;
}

/** Splits a label filter value at its first `=`. */
export function parseLabelFilter(s: string): LabelFilter {
  const eq = s.indexOf('=');
  return eq < 0 ? { key: s } : { key: s.slice(0, eq), value: s.slice(eq + 1) };
}

/**
 * docker's Args.MatchKVList: true when every filter matches (AND); no filters match everything; an
 * object without labels matches no filter.
 */
export function matchLabels(filters: readonly string[] | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (!filters || filters.length === 0) return true;
  if (!labels || Object.keys(labels).length === 0) return false;
  return filters.every((f) => {
    const { key, value } = parseLabelFilter(f);
    if (!Object.hasOwn(labels, key)) return false;
    return value === undefined || labels[key] === value;
  });
}

/**
 * A boolean filter such as `dangling=true` (docker's GetBoolOrDefault): `true`/`1` and `false`/`0`,
 * case-insensitive; `undefined` when the key is absent. Fails with `invalid_argument`
 * "invalid filter 'dangling=foo'" for other values and for more than one value.
 */
export function filterBool(filters: Filters, key: string): boolean | undefined {
  const values = filters.get(key);
  if (!values || values.length === 0) return undefined;
  const l = (values[0] as string).toLowerCase();
  const b = l === 'true' || l === '1' ? true : l === 'false' || l === '0' ? false : undefined;
  if (values.length > 1 || b === undefined) throw invalidArgument(`invalid filter '${key}=${values.join(',')}'`);
  return b;
}
