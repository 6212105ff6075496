// An instance's path as a link to the app it serves (app-url.ts), from the
// box's DNS name and the apps' ports; the plain path until those are known.
import { appUrl } from '../app-url';
import { useFetch } from '../hooks/fetch';
import type { SettingSpec, Status } from '../types';

/** The address of each instance path, for one page (one look at the settings and the ports). */
export function useAppUrl(): (path: string) => string | null {
  const settings = useFetch<{ settings: Record<string, SettingSpec> }>('/settings');
  const status = useFetch<Status>('/status');
  return (path) => (settings.data && status.data ? appUrl(path, settings.data.settings.dnsName?.value ?? '', status.data.http, location) : null);
}

export function AppLink({ path, url }: { path: string; url: string | null }) {
  return url ? <a href={url}>{path}</a> : <>{path}</>;
}
