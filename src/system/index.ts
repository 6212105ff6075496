// The box itself from the Manager: restart, shutdown, and the Linux root and
// admin passwords of the seed's Security section ("normally set through
// Devices"). Each runs a command the board names, so a development machine
// runs none of them (they only say so) and tests run stand-ins.
import { spawn } from 'node:child_process';
import { T, type ApiRoute } from '../api';
import { checkNewPassword } from '../auth';
import { ApError, InvalidField } from '../errors';
import type { Logger } from '../log';

/** The Linux users whose password the Manager sets. */
export const LINUX_USERS = ['root', 'admin'] as const;

export interface SystemOptions {
  readonly rebootCommand: string;
  readonly shutdownCommand: string;
  readonly passwdCommand: string;
  readonly log: Logger;
}

/** Runs `command` (reboot, poweroff) a moment after it is asked, so the answer to the request gets out; "none" only says so. */
export function rebootPort(command: string, log: Logger, purpose = 'a reboot is needed to apply the staged image', onFailure?: (text: string) => void): () => Promise<void> {
  return async () => {
    if (command === 'none') {
      log.warn(`${purpose}, but this board does not run one (--reboot-command/--shutdown-command none)`);
      return;
    }
    log.info(`running: ${command}`);
    // A second after the answer, so that the caller's reply gets out first.
    setTimeout(() => {
      const [program, ...args] = command.split(/\s+/);
      // A reboot that does not happen must not pass unnoticed: a staged image waits for it.
      const failed = (why: string) => {
        const text = `${command} failed (${why}); ${purpose}`;
        log.error(text);
        onFailure?.(text);
      };
      spawn(program!, args, { detached: true, stdio: 'ignore' })
        .on('error', (err) => failed(err.message))
        .on('exit', (code, signal) => {
          if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGKILL') failed(signal ? `signal ${signal}` : `exit code ${code}`);
        })
        .unref();
    }, 1000).unref();
  };
}

/**
 * Sets a Linux user's password with `command` (chpasswd: "user:password" on
 * stdin). The password follows the Manager's rules; it is never stored or
 * logged here, only handed to the command.
 */
export async function setLinuxPassword(command: string, user: string, password: unknown): Promise<void> {
  if (!(LINUX_USERS as readonly string[]).includes(user)) throw new ApError('NOT_FOUND', `the Manager sets the passwords of ${LINUX_USERS.join(' and ')} only`);
  const checked = checkNewPassword(password);
  if (command === 'none') throw new ApError('UNSUPPORTED', 'this board does not set Linux passwords (--passwd-command none)');
  const [program, ...args] = command.split(/\s+/);
  await new Promise<void>((resolve, reject) => {
    const child = spawn(program!, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(-1000)));
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new ApError('PASSWD_FAILED', `cannot run ${program}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new ApError('PASSWD_FAILED', `${program} refused the password of ${user}: ${err.trim().split('\n').pop() || (signal ? `killed (${signal})` : `status ${code}`)}`));
    });
    child.stdin.on('error', () => {}); // a command that exits early reports through close
    child.stdin.end(`${user}:${checked}\n`);
  });
}

// Optional to the schema: without `true` the handler refuses with a message that says what to send.
const Confirm = T.Object({ confirm: T.Optional(T.Boolean({ description: 'true, or nothing happens (400)' })) });

export function systemRoutes(options: SystemOptions): ApiRoute[] {
  const { log } = options;
  return [
    {
      method: 'POST',
      pattern: '/system/restart',
      summary: 'restart the App Platform (reboot the box) ({"confirm": true}); answers before it goes',
      body: Confirm,
      response: T.Object({ restarting: T.Boolean({ description: 'false on a board that does not restart itself' }) }),
      handler: async ({ body }) => {
        if ((body as { confirm?: unknown }).confirm !== true) throw new InvalidField('confirm', 'say {"confirm": true} to restart the box');
        log.warn('restart requested from the Manager');
        await rebootPort(options.rebootCommand, log, 'a restart was asked for')();
        return { restarting: options.rebootCommand !== 'none' };
      },
    },
    {
      method: 'POST',
      pattern: '/system/shutdown',
      summary: 'shut the App Platform down ({"confirm": true}); answers before it goes',
      body: Confirm,
      response: T.Object({ shuttingDown: T.Boolean() }),
      handler: async ({ body }) => {
        if ((body as { confirm?: unknown }).confirm !== true) throw new InvalidField('confirm', 'say {"confirm": true} to shut the box down');
        log.warn('shutdown requested from the Manager');
        await rebootPort(options.shutdownCommand, log, 'a shutdown was asked for')();
        return { shuttingDown: options.shutdownCommand !== 'none' };
      },
    },
    {
      method: 'GET',
      pattern: '/system/linux-users',
      summary: 'the Linux users whose password the Manager sets (root, admin), and whether this board sets them',
      response: T.Object({ users: T.Array(T.String()), supported: T.Boolean({ description: 'false on a board that does not set them' }) }),
      handler: () => ({ users: [...LINUX_USERS], supported: options.passwdCommand !== 'none' }),
    },
    {
      method: 'PUT',
      pattern: '/system/linux-users/{user}/password',
      summary: 'set the Linux password of root or admin ({"password"}: at least 8 characters, not a common one); never stored by the Manager',
      body: T.Object({ password: T.String() }),
      response: T.Object({ user: T.String(), set: T.Boolean() }),
      errors: ['PASSWD_FAILED', 'UNSUPPORTED'],
      handler: async ({ params, body }) => {
        await setLinuxPassword(options.passwdCommand, params.user!, (body as { password?: unknown }).password);
        log.info(`the Linux password of ${params.user} was set from the Manager`);
        return { user: params.user, set: true };
      },
    },
  ];
}
