// The vendor Manager's tree: services, and under each its instances, with
// their states; it follows the box's changes. A sidebar on wide screens; on
// small ones a disclosure above the page, closed, so the page's heading comes
// first (its button says how many are not running). Long names end in "…"
// with the whole name in their title, never broken mid-word.
import { useEffect, useState } from 'preact/hooks';
import { useOnline } from '../hooks/events';
import { useFetch } from '../hooks/fetch';
import { href } from '../router';
import type { Instance, ServiceSummary } from '../types';
import { ErrorText } from './errors';
import { State } from './live';

function Entry({ to, name, state }: { to: string; name: string; state: string }) {
  return (
    <a href={to} title={name}>
      <span class="name">{name}</span> <State state={state} />
    </a>
  );
}

export function Tree() {
  const services = useFetch<{ services: ServiceSummary[] }>('/services', { live: true });
  const instances = useFetch<{ instances: Instance[] }>('/instances', { live: true });
  const online = useOnline();
  const [open, setOpen] = useState(false);
  // A link followed on a small screen closes it: the page it opened is what one wants to see.
  useEffect(() => {
    const close = () => setOpen(false);
    addEventListener('hashchange', close);
    return () => removeEventListener('hashchange', close);
  }, []);
  const listed = services.data?.services ?? [];
  const all = instances.data?.instances ?? [];
  const down = [...listed, ...all].filter((x) => x.state !== 'running').length;
  return (
    <nav class={`tree${open ? ' open' : ''}`} aria-label="Services and instances">
      <button type="button" class="tree-toggle" aria-expanded={open} aria-controls="tree-list" onClick={() => setOpen(!open)}>
        Services and instances{online && down > 0 ? ` (${down} not running)` : ''}
      </button>
      <div id="tree-list" class="tree-list">
        <a href="#/">Manager</a>
        <p>
          <a href={href({ page: 'new' })}>New instance or app</a>
        </p>
        <ul>
          {listed.map((s) => (
            <li key={s.name}>
              <Entry to={href({ page: 'service', name: s.name })} name={s.name} state={s.state} />
              <ul>
                {all
                  .filter((i) => i.service === s.name)
                  .map((i) => (
                    <li key={i.id}>
                      <Entry to={href({ page: 'instance', id: i.id })} name={i.id} state={i.state} />
                    </li>
                  ))}
              </ul>
            </li>
          ))}
        </ul>
        {/* While the box cannot be reached the banner says so once, not here too. */}
        {online && <ErrorText error={services.error ?? instances.error} />}
      </div>
    </nav>
  );
}
