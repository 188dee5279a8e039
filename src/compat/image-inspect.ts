/**
 * Docker's `image inspect` shape, built from the engine's records. Shared by the CLI and the API
 * service so both print the same document.
 */
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import { readConfig } from '../engine/images.js';
import type { ImageRecord } from '../image/image-store.js';
import { familiarString, parseReference } from '../image/reference.js';

export function familiarTag(full: string): string {
  return familiarString(parseReference(full));
}

export function familiarRepoDigest(full: string): string {
  return full.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '');
}

export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

export function dockerImageInspect(engine: Engine, img: ImageRecord): Record<string, unknown> {
  const cfg = readConfig(engine, img);
  const c = cfg.config ?? {};
  const chain = engine.layers.lowerChain(img.topLayer);
  const lowers = chain.slice(1).map((l) => engine.layers.layerDir(l.chainId));
  const graph: Record<string, string> = {};
  if (chain[0]) {
    graph.UpperDir = engine.layers.layerDir(chain[0].chainId);
    graph.WorkDir = path.join(path.dirname(graph.UpperDir), 'work');
    graph.MergedDir = path.join(path.dirname(graph.UpperDir), 'merged');
    if (lowers.length) graph.LowerDir = lowers.join(':');
  }
  const history = cfg.history ?? [];
  return {
    Id: img.id,
    RepoTags: img.tags.map(familiarTag),
    RepoDigests: img.repoDigests.map(familiarRepoDigest),
    Parent: img.parent ?? '',
    Comment: history.length ? (history[history.length - 1]?.comment ?? '') : '',
    Created: cfg.created ?? rfc3339(img.created),
    DockerVersion: '',
    Author: cfg.author ?? '',
    Config: {
      Hostname: '',
      Domainname: '',
      User: c.User ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ExposedPorts: c.ExposedPorts,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: c.Env ?? null,
      Cmd: c.Cmd ?? null,
      Healthcheck: c.Healthcheck,
      ArgsEscaped: c.ArgsEscaped,
      Image: '',
      Volumes: c.Volumes ?? null,
      WorkingDir: c.WorkingDir ?? '',
      Entrypoint: c.Entrypoint ?? null,
      OnBuild: c.OnBuild ?? null,
      Labels: c.Labels ?? null,
      StopSignal: c.StopSignal,
      Shell: c.Shell,
    },
    Architecture: cfg.architecture,
    Variant: cfg.variant,
    Os: cfg.os,
    Size: img.size,
    GraphDriver: { Name: 'overlay2', Data: graph },
    RootFS: { Type: 'layers', Layers: cfg.rootfs.diff_ids },
    Metadata: { LastTagTime: img.tags.length ? rfc3339(img.added) : '0001-01-01T00:00:00Z' },
  };
}
