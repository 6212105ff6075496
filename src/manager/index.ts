// The Manager on its own origin: the admin API over HTTP at /manager/api/
// behind its login (http.ts), the event socket /manager/api/events
// (events.ts), and the UI's files at /manager/ (ui.ts). The webserver is the
// transport: it is handed managerSite(...) and mounts it on the Manager's
// listeners only, beside the paths both origins serve.
import type { TemplatedApp } from 'uWebSockets.js';
import { mountManagerApi, type ManagerHttpOptions } from './http';
import { loadUi, mountUi } from './ui';

export { ManagerEvents } from './events';

export interface ManagerSiteOptions extends ManagerHttpOptions {
  /** The Manager UI's built files (dist/manager); none there, and /manager/ says it is not built. */
  readonly uiDir: string;
}

/** What the Manager serves on a listener of its own. */
export interface ManagerSite {
  /** Mounts the event socket, the API and the UI on one of the Manager's listeners (HTTPS when `secure`). */
  mount(app: TemplatedApp, secure: boolean): void;
}

/** The Manager's routes for the webserver to mount; the UI's files are read once, here. */
export function managerSite(options: ManagerSiteOptions): ManagerSite {
  const ui = loadUi(options.uiDir);
  return {
    mount(app, secure) {
      options.events?.mount(app, secure);
      mountManagerApi(app, options, secure);
      mountUi(app, ui);
    },
  };
}
