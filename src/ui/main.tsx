// The App Platform Manager in the browser: login (and the forced change of the
// default password), a tree of services and their instances as on the
// vendor's Manager, instance pages, settings, system charts. Preact and uPlot,
// no CDN, no external fonts; hash routes so every page has an address.
// The parts: shell.tsx (session, frame, routing), router.ts, api.ts (the
// typed client) and types.ts, hooks/ (fetching, jobs, events), components/,
// one file per page in pages/.
import { render } from 'preact';
import { App } from './shell';
import './style.css';

render(<App />, document.getElementById('app')!);
