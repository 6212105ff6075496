// `ap serve`: the supervisor's process. Builds its parts (compose.ts) in a
// visible order, runs until SIGTERM/SIGINT (or a bug that escapes to the
// top), and takes them down in exact reverse (parts.ts), each stop bounded.
import type { Config } from '../config';
import { describe, exitCodeOf } from '../errors';
import { join } from 'node:path';
import { capFiles, createLogger, LOG_MAX_BYTES, ownOutputFiles } from '../log';
import { createNotifier } from '../notify';
import { layout } from '../paths';
import { BUILD_LABEL, VERSION } from '../version';
import { compose } from './compose';
import { Parts, StopDuringStart } from './parts';
import type { Status } from './routes';

export { Parts, StopDuringStart } from './parts';
export type { Diagnostics, Status } from './routes';

type Env = Readonly<Record<string, string | undefined>>;

/** Runs the supervisor until SIGTERM/SIGINT; resolves with the exit status. */
export async function serve(config: Config, env: Env, bundleUrl: URL): Promise<number> {
  const log = createLogger(config.log);
  const notify = createNotifier(env, log);
  const paths = layout(config.root);
  // What others append to on a box and nobody rotates: capped as our own log is.
  const capped = capFiles(async () => [...(await ownOutputFiles()), join(paths.log, 'postgresql.log')], LOG_MAX_BYTES, log.child('log'));
  let parts = new Parts(log, 5000);
  let state: Status['state'] = 'starting';

  let wake: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (wake = resolve));
  let stopRequested = false;
  // A replication switch (standby, promotion): every part stops and the supervisor composes again, in the other mode.
  let recomposeWhy: string | null = null;
  let wakeRecompose: () => void = () => {};
  const requestRecompose = (why: string) => {
    if (stopRequested || recomposeWhy !== null) return;
    recomposeWhy = why;
    // After the answer that asked for it has left (the admin socket is the first part to stop).
    setImmediate(() => wakeRecompose());
  };
  const requestStop = (why: string) => {
    stopRequested = true;
    if (parts.stopping) {
      log.warn(`${why} again: already stopping`);
      return;
    }
    parts.askStop();
    log.info(`${why}: stopping`);
    wake();
  };
  const onSignal = (signal: NodeJS.Signals) => requestStop(signal);
  // A bug that escapes to the top must not leave PostgreSQL and the apps
  // orphaned: log it and take everything down in order, exiting 1.
  let crashed = false;
  const onCrash = (err: unknown) => {
    log.error(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    crashed = true;
    requestStop('internal error');
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);

  let exitCode = 0;
  log.info(`ap ${VERSION} (build ${BUILD_LABEL}) starting: board ${config.board.name}, root ${config.root}`);
  for (;;) {
    const recomposed = new Promise<void>((resolve) => (wakeRecompose = resolve));
    try {
      const { web, updater, selfUpdate } = await compose({
        config,
        paths,
        parts,
        log,
        notify,
        state: () => state,
        startedAt: new Date(),
        bundleUrl,
        respawned: env.AP_RESPAWNED === '1',
        requestStop,
        recompose: requestRecompose,
      });
      state = 'running';
      notify.ready();
      // A new build of the supervisor on trial has made it: S92manager counts no more attempts.
      await selfUpdate.confirm().catch((err) => log.error(`cannot confirm the supervisor's update: ${describe(err)}`));
      // A freshly updated image is confirmed once it has been READY for a while (S01bootcheck counts its boots until then).
      const confirm = setTimeout(() => {
        updater.afterBoot().catch((err) => log.error(`update: ${describe(err)}`));
      }, config.update.confirmAfterMs);
      confirm.unref();
      parts.onStop('update confirmation', () => clearTimeout(confirm));
      notify.status(`serving apps on port ${web.httpPort}, the Manager on port ${web.managerHttpPort}`);
      // The apps' line first: whoever waits for the ready line finds both.
      log.info(`apps at ${web.url}${web.httpsPort === null ? '' : ` (HTTPS port ${web.httpsPort})`}`);
      log.info(`ready: Manager at ${web.managerUrl}`);
      await Promise.race([stopped, recomposed]);
    } catch (err) {
      if (!(err instanceof StopDuringStart)) {
        log.error(`start failed: ${describe(err)}`);
        exitCode = exitCodeOf(err);
      }
    }
    if (stopRequested || recomposeWhy === null || exitCode !== 0) break;
    log.info(`${recomposeWhy}: stopping every part to start again in the new mode`);
    state = 'starting';
    if ((await parts.stopAll()) > 0) log.warn('some parts did not stop cleanly; starting again anyway');
    if (stopRequested) break;
    parts = new Parts(log, 5000);
    recomposeWhy = null;
  }

  state = 'stopping';
  notify.stopping();
  // Each part's stop is bounded; this is the last resort if the process itself hangs.
  const boundMs = parts.stopBoundMs + 5000;
  const deadline = setTimeout(() => {
    log.error(`shutdown took longer than ${Math.round(boundMs / 1000)} s; exiting`);
    process.exit(1);
  }, boundMs);
  deadline.unref();
  if ((await parts.stopAll()) > 0) exitCode ||= 1;
  if (crashed) exitCode ||= 1;
  notify.close();
  capped.stop();
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  process.off('uncaughtException', onCrash);
  process.off('unhandledRejection', onCrash);
  log.info(exitCode === 0 ? 'stopped' : `stopped with status ${exitCode}`);
  log.close();
  clearTimeout(deadline);
  return exitCode;
}
