/** version, system df and events over the Engine API. */
import { list, str } from '../../cli/args.js';
import { EVENT_FILTERS, eventTime, printEvent } from '../../cli/commands/events.js';
import { parseFilterFlags } from '../../cli/commands/common.js';
import { printDiskUsage } from '../../cli/commands/system.js';
import type { EngineEvent } from '../../engine/events.js';
import { BerthError } from '../../errors.js';
import { type RemoteTable, qs } from './common.js';

export const SYSTEM_COMMANDS: RemoteTable = {
  version: {
    run: async (c, ctx) => {
      const v = await c.json<{ Version: string; ApiVersion: string }>('GET', '/version');
      const { VERSION } = await import('../../version.js');
      ctx.out(`Client: Berth ${VERSION}\nServer: Berth ${v.Version} (API ${v.ApiVersion}) at unix://${c.socketPath}`);
      return 0;
    },
  },
  'system df': {
    run: async (c, ctx, p) => {
      const r = await c.json<{ BerthUsage?: import('../../engine/system.js').UsageRow[] }>('GET', '/system/df');
      if (!r.BerthUsage) throw new BerthError('not_implemented', 'the service did not send its disk usage summary (an older Berth?)');
      printDiskUsage(ctx, p, r.BerthUsage);
      return 0;
    },
  },
  'system events': {
    run: async (c, ctx, p) => {
      const f = parseFilterFlags(list(p, 'filter'), EVENT_FILTERS);
      const since = eventTime(str(p, 'since'), 'since');
      const until = eventTime(str(p, 'until'), 'until');
      const filters = f.size ? JSON.stringify(Object.fromEntries(f)) : undefined;
      const res = await c.stream('GET', `/events${qs({ since: since !== undefined ? (since / 1000).toFixed(3) : undefined, until: until !== undefined ? (until / 1000).toFixed(3) : undefined, filters })}`);
      const stop = () => res.destroy();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const fmt = str(p, 'format');
      let rest = '';
      try {
        for await (const chunk of res) {
          rest += (chunk as Buffer).toString();
          const lines = rest.split('\n');
          rest = lines.pop() ?? '';
          for (const l of lines) if (l.trim()) printEvent(ctx, fmt, JSON.parse(l) as EngineEvent);
        }
      } catch (e) {
        if (!res.destroyed) throw e;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
      return 0;
    },
  },
};
