// systemd's readiness protocol: READY=1 once serving, STATUS= lines, STOPPING=1,
// and WATCHDOG=1 pings when WATCHDOG_USEC asks for them. Silent when
// NOTIFY_SOCKET is unset; a warning when it is set but sd-notify was not built.
import type { Logger } from '../log';
import { loadSdNotify } from '../native';

export interface Notifier {
  ready(): void;
  status(text: string): void;
  stopping(): void;
  /** Stops the watchdog pings. */
  close(): void;
}

/** A notifier for this process's environment. */
export function createNotifier(env: Readonly<Record<string, string | undefined>>, log: Logger): Notifier {
  const quiet: Notifier = { ready() {}, status() {}, stopping() {}, close() {} };
  if (!env.NOTIFY_SOCKET) return quiet;
  const sd = loadSdNotify();
  if (!sd) {
    log.warn('NOTIFY_SOCKET is set but the sd-notify addon is not built (install libsystemd-dev and rebuild); not notifying');
    return quiet;
  }
  let timer: NodeJS.Timeout | undefined;
  const intervalMs = sd.watchdogInterval();
  if (intervalMs > 0) {
    // Ping at half the interval, from the event loop: a stuck loop stops the pings.
    timer = setInterval(() => sd.watchdog(), Math.max(Math.floor(intervalMs / 2), 100));
    timer.unref();
  }
  return {
    ready: () => sd.ready(process.pid),
    status: (text) => sd.sendState(`STATUS=${text.replace(/\n/g, ' ')}\n`),
    stopping: () => sd.stopping(process.pid),
    close: () => clearInterval(timer),
  };
}
