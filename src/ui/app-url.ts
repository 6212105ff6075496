// Where a browser or a PBX opens an instance: pure (no DOM), unit-tested in
// Node (test/ui/app-url.test.ts).

/** The apps' listeners (GET /status http): the ports apps answer on, null when not listening. */
export interface AppPorts {
  readonly port: number | null;
  readonly httpsPort: number | null;
}

/**
 * The address of the instance at `path`. With the App Platform DNS name (the
 * setting dnsName) it is https://<dnsName><path>, as the App Installer gives
 * it (src/installer url()). Without one, the host this page was opened with,
 * on the apps' port of the page's scheme (the other scheme's when that one is
 * off): the Manager has a port of its own. Null when apps listen on no port.
 */
export function appUrl(path: string, dnsName: string, ports: AppPorts, page: { readonly protocol: string; readonly hostname: string }): string | null {
  if (dnsName !== '') return `https://${dnsName.includes(':') ? `[${dnsName}]` : dnsName}${path}`;
  const https = page.protocol === 'https:' ? ports.httpsPort !== null : ports.port === null;
  const port = https ? ports.httpsPort : ports.port;
  if (port === null) return null;
  const usual = port === (https ? 443 : 80);
  return `${https ? 'https' : 'http'}://${page.hostname}${usual ? '' : `:${port}`}${path}`;
}
