// The vendor Manager's tree: services, and under each its instances, with
// their states; it follows the box's changes.
import { useFetch } from '../hooks/fetch';
import { href } from '../router';
import type { Instance, ServiceSummary } from '../types';
import { ErrorText } from './errors';

export function Tree() {
  const services = useFetch<{ services: ServiceSummary[] }>('/services', { live: true });
  const instances = useFetch<{ instances: Instance[] }>('/instances', { live: true });
  const all = instances.data?.instances ?? [];
  return (
    <nav class="tree" aria-label="Services and instances">
      <a href="#/">Manager</a>
      <p>
        <a href={href({ page: 'new' })}>New instance or app</a>
      </p>
      <ul>
        {(services.data?.services ?? []).map((s) => (
          <li key={s.name}>
            <a href={href({ page: 'service', name: s.name })}>
              {s.name} <span class={`state ${s.state}`}>{s.state}</span>
            </a>
            <ul>
              {all
                .filter((i) => i.service === s.name)
                .map((i) => (
                  <li key={i.id}>
                    <a href={href({ page: 'instance', id: i.id })}>
                      {i.id} <span class={`state ${i.state}`}>{i.state}</span>
                    </a>
                  </li>
                ))}
            </ul>
          </li>
        ))}
      </ul>
      <ErrorText error={services.error ?? instances.error} />
    </nav>
  );
}
