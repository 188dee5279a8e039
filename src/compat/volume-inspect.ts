/** Docker's volume document (`volume inspect`, GET /volumes), shared by the CLI and the API. */
import type { VolumeRecord } from '../volume/service.js';

export function dockerVolumeInspect(v: VolumeRecord): Record<string, unknown> {
  return {
    CreatedAt: new Date(v.created).toISOString().replace(/\.\d+Z$/, 'Z'),
    Driver: v.driver,
    Labels: v.labels,
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: v.options,
    Scope: 'local',
  };
}
