/** `berth system service`: serve the Docker Engine API on a unix socket until SIGINT/SIGTERM. */
import { type ParsedArgs, str } from '../args.js';
import type { CliContext } from '../context.js';

export async function systemService(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const { serve } = await import('../../api/server.js');
  const socket = str(p, 'socket') ?? p.args[0] ?? 'unix:///run/berth/berth.sock';
  const opts: import('../../api/server.js').ServeOptions = { socket };
  const log = str(p, 'log-requests') ?? process.env.BERTH_API_LOG;
  if (log) opts.logFile = log;
  const srv = await serve(engine, opts);
  ctx.err(`API listening on unix://${srv.socketPath}`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await srv.close();
  return 0;
}
