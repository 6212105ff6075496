// The supervisor's entry: dispatches the command line; `ap serve` is
// src/supervisor (the composition root).
import { CTL_USAGE, parseArgs, serveHelp, USAGE } from './cli';
import { getBoard, loadConfig } from './config';
import { ctl } from './ctl';
import { describe, exitCodeOf } from './errors';
import { serve } from './supervisor';
import { BUILD_LABEL, VERSION } from './version';

type Env = Readonly<Record<string, string | undefined>>;

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const STDIO: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** Runs the command line; resolves with the exit status. */
export async function main(argv: readonly string[], env: Env, cwd: string, io: Io = STDIO): Promise<number> {
  try {
    const inv = parseArgs(argv);
    switch (inv.command) {
      case 'help':
        io.out(inv.positionals[0] === 'serve' ? serveHelp() : inv.positionals[0] === 'ctl' ? CTL_USAGE : USAGE);
        return 0;
      case 'version':
        io.out(inv.switches.has('json') ? JSON.stringify({ version: VERSION, label: BUILD_LABEL }) : `ap ${VERSION} (build ${BUILD_LABEL})`);
        return 0;
      case 'node-flags':
        io.out(getBoard(inv.flags.board ?? env.AP_BOARD ?? 'dev').nodeFlags.join(' '));
        return 0;
      case 'ctl':
        if (inv.switches.has('help')) {
          io.out(CTL_USAGE);
          return 0;
        }
        return await ctl({ words: inv.positionals, flags: inv.flags, switches: inv.switches, json: inv.switches.has('json'), env, cwd }, io);
      case 'serve':
        if (inv.switches.has('help')) {
          io.out(serveHelp());
          return 0;
        }
        return await serve(loadConfig({ flags: inv.flags, env, cwd, uid: process.getuid?.() }), env, new URL(import.meta.url));
    }
  } catch (err) {
    io.err(`ap: ${describe(err)}`);
    return exitCodeOf(err);
  }
}
