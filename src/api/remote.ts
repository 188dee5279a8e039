/**
 * `berth --host unix:///path CMD` (or BERTH_HOST): the second implementation of the CLI's command
 * table, over the Engine API. Each remote command takes the same parsed flags as its local handler
 * and prints the same output (src/api/remote/*.ts); a command or flag the API cannot carry is
 * refused with exit 125 and a message naming it. main.ts loads this module only when --host is set.
 */
import type { ParsedArgs } from '../cli/args.js';
import type { CommandDef } from '../cli/commands.js';
import type { CliContext } from '../cli/context.js';
import { ApiClient } from './client.js';
import type { RemoteTable } from './remote/common.js';
import { CONTAINER_COMMANDS } from './remote/containers.js';
import { IMAGE_COMMANDS } from './remote/images.js';
import { SYSTEM_COMMANDS } from './remote/system.js';
import { VOLUME_NETWORK_COMMANDS } from './remote/volumes-networks.js';

export const REMOTE_COMMANDS: RemoteTable = { ...SYSTEM_COMMANDS, ...CONTAINER_COMMANDS, ...IMAGE_COMMANDS, ...VOLUME_NETWORK_COMMANDS };

/** Why a command has no remote form (those not listed here or in REMOTE_COMMANDS: "not yet"). */
const LOCAL_ONLY: Record<string, string> = {
  'system check': 'it checks and repairs the store files of this machine',
  'network reset': 'it removes the local store’s bridges and firewall rules',
  'registry serve': 'it serves a registry from a local directory',
};

/** Runs `def` through the API at `host`; refuses commands and flags remote mode does not cover. */
export async function runRemote(host: string, def: CommandDef, p: ParsedArgs, ctx: CliContext): Promise<number> {
  const key = def.path.join(' ');
  const cmd = REMOTE_COMMANDS[key];
  const hint = 'unset BERTH_HOST (or drop --host) to run it on the local store';
  // Like a usage error, a refusal exits 125 (docker's status when the engine side cannot do it).
  const refuse = (what: string, why: string | undefined, more = '') => {
    ctx.err(`Error: "berth ${what}" does not run over --host/BERTH_HOST${why ? `: ${why}` : ' yet'}; ${hint}${more}`);
    return 125;
  };
  if (!cmd) return refuse(key, LOCAL_ONLY[key], `\nCommands that do: ${Object.keys(REMOTE_COMMANDS).sort().join(', ')}`);
  for (const [flag, why] of Object.entries(cmd.localOnly ?? {})) {
    const v = p.flags[flag];
    const spec = def.flags.find((f) => f.name === flag);
    const set = Array.isArray(v) ? v.length > 0 : v !== undefined && v !== false && v !== spec?.default;
    if (set) return refuse(`${key} --${flag}`, why);
  }
  const other = cmd.refuse?.(p);
  if (other) return refuse(`${key} ${other.what}`, other.why);
  const client = new ApiClient(host);
  try {
    return await cmd.run(client, ctx, p);
  } finally {
    client.close();
  }
}
