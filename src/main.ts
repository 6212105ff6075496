// The supervisor's entry: dispatches the command line; `ap serve` is
// src/supervisor (the composition root).
import { errorBody } from './api';
import { CTL_USAGE, ctlGroupHelp, parseArgs, serveHelp, SMALL_HELP, USAGE } from './cli';
import { getBoard, loadConfig, postgresConf } from './config';
import { ctl } from './ctl';
import { ApError, describe, exitCodeOf, UsageError } from './errors';
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
        if (inv.switches.has('help')) {
          io.out(SMALL_HELP.version);
          return 0;
        }
        io.out(inv.switches.has('json') ? JSON.stringify({ version: VERSION, label: BUILD_LABEL }) : `ap ${VERSION} (build ${BUILD_LABEL})`);
        return 0;
      case 'node-flags':
        if (inv.switches.has('help')) {
          io.out(SMALL_HELP['node-flags']);
          return 0;
        }
        io.out(getBoard(inv.flags.board ?? env.AP_BOARD ?? 'dev').nodeFlags.join(' '));
        return 0;
      case 'pg-settings':
        if (inv.switches.has('help')) {
          io.out(SMALL_HELP['pg-settings']);
          return 0;
        }
        io.out(postgresConf(getBoard(inv.flags.board ?? env.AP_BOARD ?? 'dev')).trimEnd());
        return 0;
      case 'ctl':
        if (inv.switches.has('help')) {
          io.out(ctlGroupHelp(inv.positionals[0] ?? '') ?? CTL_USAGE);
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
    if (wantsJson(argv)) io.out(JSON.stringify(cliErrorBody(err), null, 2));
    else io.err(`ap: ${describe(err)}`);
    return exitCodeOf(err);
  }
}

/** Whether the command line asked for JSON (also when it failed to parse): ctl and version. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (argv[0] === 'ctl' || argv[0] === 'version') && argv.slice(0, end < 0 ? undefined : end).includes('--json');
}

/** An error in the API's shape, {error: {code, message, field?}}, with its whole message (a usage error's without the usage text). */
function cliErrorBody(err: unknown): { error: { code: string; message: string; field?: string } } {
  if (!(err instanceof ApError)) return { error: { code: 'ERROR', message: describe(err) } };
  return { error: { ...errorBody(err).error, message: err instanceof UsageError ? err.message.split('\n\n')[0]! : describe(err) } };
}
