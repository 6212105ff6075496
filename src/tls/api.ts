// The webserver certificate as the Manager and `ap ctl cert` see it: what is
// served, its chain as PEM, and an upload that is checked, stored and served
// at once. One implementation for the API and the admin socket.
import { Readable } from 'node:stream';
import type { ApiRoute } from '../api';
import { StreamBody, T } from '../api';
import { InvalidField } from '../errors';
import type { Logger } from '../log';
import type { CertificateChain } from './chain';
import { installCertificate, prepareCertificate, type CertificateStore, type PreparedCertificate } from './store';
import { CertificateView } from './views';

export interface CertificatesOptions {
  readonly store: CertificateStore;
  /** Where the served files are written. */
  readonly dir: string;
  readonly log: Logger;
  /** A new certificate is ready to serve (reload the listeners, check its validity). */
  readonly changed: (prepared: PreparedCertificate) => Promise<void>;
}

const oneLine = (name: string) => name.replace(/\n/g, ', ');

/** What the API says of a chain. */
function summary(chain: CertificateChain, custom: boolean): CertificateView {
  return { subject: oneLine(chain.subject), issuer: oneLine(chain.issuer), validTo: chain.validTo.toISOString(), custom, fingerprint256: chain.fingerprint256 };
}

export class Certificates {
  constructor(private readonly options: CertificatesOptions) {}

  /** The certificate being served. */
  async current(): Promise<PreparedCertificate> {
    return prepareCertificate(this.options.store, this.options.dir, this.options.log);
  }

  /** Serves what is stored now (after a restore of the manager database). */
  async reload(): Promise<void> {
    await this.options.changed(await this.current());
  }

  /** Checks and stores `pem` (certificate, intermediates, unencrypted key), then serves it; CERT_* on bad input, changing nothing. */
  async install(pem: string): Promise<CertificateView> {
    const chain = await installCertificate(this.options.store, pem);
    await this.reload();
    this.options.log.info(`webserver certificate replaced: ${oneLine(chain.subject)}, valid until ${chain.validTo.toISOString()}`);
    return summary(chain, true);
  }

  routes(): ApiRoute[] {
    return [
      {
        method: 'GET',
        pattern: '/certificate',
        summary: 'the webserver certificate being served: subject, issuer, validity, whether it was uploaded',
        response: CertificateView,
        handler: async () => {
          const c = await this.current();
          return summary(c.chain, c.custom);
        },
      },
      {
        method: 'GET',
        pattern: '/certificate/download',
        summary: 'the served certificate chain as PEM (certificates only, never the key)',
        download: { type: 'application/x-pem-file', text: true },
        handler: async () => new StreamBody(Readable.from([Buffer.from((await this.current()).chain.certPem)]), 'application/x-pem-file', 'webserver-certificate.pem'),
      },
      {
        method: 'PUT',
        pattern: '/certificate',
        summary: 'upload the webserver certificate ({"pem"}: certificate, intermediates, unencrypted key); checked (key, order, validity), applied at once',
        body: T.Object({ pem: T.String({ description: 'certificate, intermediates and unencrypted key, PEM' }) }),
        response: CertificateView,
        handler: async ({ body }) => {
          const pem = (body as { pem?: unknown }).pem;
          if (typeof pem !== 'string') throw new InvalidField('pem', 'expected the PEM text');
          return this.install(pem);
        },
      },
    ];
  }
}
