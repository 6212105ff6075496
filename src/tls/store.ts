// The webserver's certificate lives in the manager database (config table):
// `webserverCertificate` holds an uploaded chain, `webserverDefaultCertificate`
// the self-signed one made at first start. Deleting the former (the seed's
// recovery command) brings the default back at the next start.
import { hostname } from 'node:os';
import type { Logger } from '../log';
import { generateSelfSigned } from './certificate';
import { parseCertificateChain, type CertificateChain } from './chain';
import { writeTlsFiles } from './files';

export const CUSTOM_CERTIFICATE = 'webserverCertificate';
export const DEFAULT_CERTIFICATE = 'webserverDefaultCertificate';

/** Where certificates are kept: the config table, behind a port. */
export interface CertificateStore {
  get(name: string): Promise<string | null>;
  set(name: string, value: string): Promise<void>;
}

export interface PreparedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly chain: CertificateChain;
  readonly custom: boolean;
}

/** The certificate to serve (uploaded, else the default, made now if missing or expired), written to `dir`. */
export async function prepareCertificate(store: CertificateStore, dir: string, log: Logger): Promise<PreparedCertificate> {
  const custom = await store.get(CUSTOM_CERTIFICATE);
  if (custom !== null) {
    try {
      const chain = parseCertificateChain(custom);
      return { ...(await writeTlsFiles(dir, chain)), chain, custom: true };
    } catch (err) {
      log.warn(`the uploaded webserver certificate cannot be used (${(err as Error).message}); serving the default one`);
    }
  }
  let chain: CertificateChain | null = null;
  const stored = await store.get(DEFAULT_CERTIFICATE);
  if (stored !== null) {
    try {
      chain = parseCertificateChain(stored);
    } catch (err) {
      log.warn(`the default certificate is no longer usable (${(err as Error).message}); making a new one`);
    }
  }
  if (!chain) {
    const made = generateSelfSigned([hostname()]);
    chain = parseCertificateChain(made.certPem + made.keyPem);
    await store.set(DEFAULT_CERTIFICATE, chain.certPem + chain.keyPem);
    log.info(`made a self-signed webserver certificate for ${chain.altNames}`);
  }
  return { ...(await writeTlsFiles(dir, chain)), chain, custom: false };
}

/** Checks an uploaded PEM chain and stores it as the webserver certificate; throws CERT_* on bad input, storing nothing. */
export async function installCertificate(store: CertificateStore, pem: string): Promise<CertificateChain> {
  const chain = parseCertificateChain(pem);
  await store.set(CUSTOM_CERTIFICATE, chain.certPem + chain.keyPem);
  return chain;
}
