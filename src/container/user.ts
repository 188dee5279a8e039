/**
 * `-u user[:group]` resolved against the container's own /etc/passwd and /etc/group, as docker does.
 * Files are read through the mounted root file system without following symlinks out of it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BerthError } from '../errors.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

function readInRoot(rootfs: string, file: string): string | undefined {
  const p = path.join(rootfs, file);
  try {
    const st = fs.lstatSync(p);
    if (!st.isFile()) return undefined;
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

export function resolveUser(rootfs: string, spec: string, extraGroups: string[] = []): ResolvedUser {
  const [userPart = '', groupPart] = spec.split(':', 2);
  const passwd = (readInRoot(rootfs, 'etc/passwd') ?? '').split('\n').map((l) => l.split(':'));
  const groups = (readInRoot(rootfs, 'etc/group') ?? '').split('\n').map((l) => l.split(':'));
  let uid = 0;
  let gid = 0;
  let home = '/';
  let userName: string | undefined;
  if (userPart === '' || userPart === 'root') {
    const e = passwd.find((f) => f[0] === 'root');
    home = e?.[5] || '/root';
    userName = 'root';
  } else if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    const e = passwd.find((f) => f[2] === userPart);
    if (e) {
      gid = Number(e[3]);
      home = e[5] || '/';
      userName = e[0];
    }
  } else {
    const e = passwd.find((f) => f[0] === userPart);
    if (!e)
      throw new BerthError('failed_precondition', `unable to find user ${userPart}: no matching entries in passwd file`);
    uid = Number(e[2]);
    gid = Number(e[3]);
    home = e[5] || '/';
    userName = userPart;
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((f) => f[0] === groupPart);
      if (!g) throw new BerthError('failed_precondition', `unable to find group ${groupPart}: no matching entries in group file`);
      gid = Number(g[2]);
    }
  }
  const additional = new Set<number>();
  if (userName) for (const g of groups) if ((g[3] ?? '').split(',').includes(userName) && Number(g[2]) !== gid) additional.add(Number(g[2]));
  for (const eg of extraGroups) {
    if (/^\d+$/.test(eg)) additional.add(Number(eg));
    else {
      const g = groups.find((f) => f[0] === eg);
      if (!g) throw new BerthError('failed_precondition', `unable to find group ${eg}`);
      additional.add(Number(g[2]));
    }
  }
  return { uid, gid, additionalGids: [...additional], home };
}
