/**
 * `ps` / GET /containers/json: which containers a listing shows, with docker's filters. One
 * implementation for the CLI and the API so they never disagree.
 */
import { invalidArgument } from '../errors.js';
import type { ContainerService } from './service.js';
import type { ContainerRecord } from './types.js';

export const CONTAINER_FILTERS = ['status', 'name', 'label', 'ancestor', 'exited', 'id', 'before', 'since', 'health', 'volume', 'network', 'publish', 'expose', 'is-task'];
const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

export interface ListOptions {
  /** Include stopped containers (implied by --last, --latest, status and exited filters). */
  all?: boolean;
  /** Only the n most recently created (docker's -n / limit). */
  last?: number;
  latest?: boolean;
  filters?: Map<string, string[]>;
}

function live(r: ContainerRecord): boolean {
  return r.state.status === 'running' || r.state.status === 'paused' || r.state.status === 'restarting';
}

/** Newest first, filtered as docker filters; unknown statuses are invalid_argument. */
export function listContainers(svc: ContainerService, o: ListOptions = {}): ContainerRecord[] {
  const filters = o.filters ?? new Map<string, string[]>();
  let recs = svc.list().sort((a, b) => b.config.created - a.config.created);
  const last = o.last ?? -1;
  const all = o.all || last > 0 || o.latest || filters.has('status') || filters.has('exited');
  if (!all) recs = recs.filter(live);
  const status = filters.get('status');
  if (status) {
    for (const s of status) if (!STATUSES.includes(s)) throw invalidArgument(`invalid filter 'status=${s}'`);
    recs = recs.filter((r) => status.includes(r.state.status));
  }
  const names = filters.get('name');
  if (names) recs = recs.filter((r) => names.some((n) => new RegExp(n.replace(/^\//, '')).test(r.config.name)));
  const ids = filters.get('id');
  if (ids) recs = recs.filter((r) => ids.some((i) => r.config.id.startsWith(i)));
  for (const l of filters.get('label') ?? []) {
    const eq = l.indexOf('=');
    const k = eq < 0 ? l : l.slice(0, eq);
    recs = recs.filter((r) => k in r.config.labels && (eq < 0 || r.config.labels[k] === l.slice(eq + 1)));
  }
  const exited = filters.get('exited');
  if (exited) recs = recs.filter((r) => r.state.status === 'exited' && exited.map(Number).includes(r.state.exitCode));
  const anc = filters.get('ancestor');
  if (anc) {
    // The image and every image built from it, as docker's ancestor filter does.
    const imgIds = new Set<string>();
    for (const a of anc) {
      const img = svc.engine.images.tryResolve(a);
      if (!img) continue;
      imgIds.add(img.id);
      let frontier: string[] = [img.id];
      while (frontier.length) {
        const next: string[] = [];
        for (const f of frontier)
          for (const c of svc.engine.images.children(f as never)) {
            if (imgIds.has(c)) continue;
            imgIds.add(c);
            next.push(c as string);
          }
        frontier = next;
      }
    }
    recs = recs.filter((r) => imgIds.has(r.config.imageId));
  }
  const health = filters.get('health');
  if (health) recs = recs.filter((r) => health.includes(r.state.health?.status ?? 'none'));
  const vols = filters.get('volume');
  if (vols) recs = recs.filter((r) => r.config.mounts.some((m) => vols.includes(m.name ?? m.source) || vols.includes(m.destination)));
  const net = filters.get('network');
  if (net) recs = recs.filter((r) => net.includes(r.config.network.mode));
  for (const b of filters.get('before') ?? []) {
    const ref = svc.get(b);
    recs = recs.filter((r) => r.config.created < ref.config.created);
  }
  for (const s of filters.get('since') ?? []) {
    const ref = svc.get(s);
    recs = recs.filter((r) => r.config.created > ref.config.created);
  }
  if (o.latest) recs = recs.slice(0, 1);
  else if (last > 0) recs = recs.slice(0, last);
  return recs;
}
