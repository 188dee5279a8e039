/**
 * SSH agent forwarding for `RUN --mount=type=ssh`: each such mount gets a socket of its own, served
 * by the berth process for the length of the step, that relays every connection to the agent given
 * with `build --ssh` (BuildKit forwards agents over its session the same way). The step never sees
 * the user's socket or its directory; the socket it sees has the mount's owner and mode.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { invalidArgument } from '../errors.js';

export interface AgentProxy {
  /** The relay's socket, to bind-mount into the step. */
  socket: string;
  /** Stops relaying, ends open connections, deletes the socket. */
  close(): void;
}

/** Serves a relay to the agent at `agent`; the socket lives in a fresh private directory. */
export async function startAgentProxy(agent: string, o: { uid: number; gid: number; mode: number }): Promise<AgentProxy> {
  // Under the system temp directory: a socket path must fit in 108 bytes, a store's may not.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ssh-'));
  const socket = path.join(dir, 'agent.sock');
  const conns = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(agent);
    conns.add(client);
    conns.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      conns.delete(client);
      conns.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => resolve());
    });
    fs.chmodSync(socket, o.mode);
    fs.chownSync(socket, o.uid, o.gid);
  } catch (e) {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    socket,
    close: () => {
      server.close();
      for (const c of conns) c.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `build --ssh` values as docker takes them: `default` or `ID` (the agent of SSH_AUTH_SOCK), or
 * `ID=SOCKET`. Key files (`ID=KEYFILE[,KEYFILE]`), which buildx loads into an agent of its own, are
 * refused with the way to do the same through an agent.
 * @returns id -> absolute path of an agent socket.
 */
export function parseSshFlags(items: string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const it of items) {
    const eq = it.indexOf('=');
    const id = eq < 0 ? it : it.slice(0, eq);
    const paths = eq < 0 ? [] : it.slice(eq + 1).split(',').filter(Boolean);
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) throw invalidArgument(`invalid --ssh "${it}": use default, ID or ID=SOCKET`);
    const keyHint = { hint: `load the key into an agent (eval "$(ssh-agent)"; ssh-add KEYFILE) and pass --ssh ${id}` };
    if (paths.length > 1) throw invalidArgument(`--ssh ${id}: Berth forwards SSH agents, not key files`, keyHint);
    const sock = paths[0] ?? env.SSH_AUTH_SOCK;
    if (!sock) throw invalidArgument(`--ssh ${id}: invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set`, { hint: `start an agent (eval "$(ssh-agent)"; ssh-add) or name its socket: --ssh ${id}=SOCKET` });
    let st: fs.Stats;
    try {
      st = fs.statSync(sock);
    } catch {
      throw invalidArgument(`--ssh ${id}: no SSH agent socket at ${sock}`, { hint: 'is the agent running? SSH_AUTH_SOCK or the path given names its socket' });
    }
    if (st.isFile()) throw invalidArgument(`--ssh ${id}: ${sock} is a file (a key?); Berth forwards SSH agents, not key files`, keyHint);
    if (!st.isSocket()) throw invalidArgument(`--ssh ${id}: ${sock} is not a socket`);
    out[id] = path.resolve(sock);
  }
  return out;
}
