// Checks the certificate file an administrator uploads, in the vendor's
// documented format: one PEM file with the server certificate, then its
// intermediate(s), optionally the root, and the unencrypted private key
// anywhere in the file. Every refusal says what to change.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { ApError } from '../errors';
import { readPemBlocks, type PemBlock } from './pem';

/** The largest file accepted; a real chain with its key is a few KiB. */
export const MAX_CHAIN_BYTES = 64 * 1024;

const KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY']);
// openssl ecparam -genkey writes the curve's parameters before the key; they add nothing.
const IGNORED_LABELS = new Set(['EC PARAMETERS']);

/** A validated certificate chain and what the Manager shows about its first certificate. */
export interface CertificateChain {
  /** Every certificate, server certificate first, re-armoured as normalised PEM. */
  certPem: string;
  /** The private key as PKCS#8 "PRIVATE KEY" PEM, whatever form it was uploaded in. */
  keyPem: string;
  subject: string;
  issuer: string;
  validFrom: Date;
  validTo: Date;
  fingerprint256: string;
  /** The subjectAltName as OpenSSL prints it ("DNS:example.com, IP Address:10.0.0.1"), or "". */
  altNames: string;
  selfSigned: boolean;
}

/** Validates an uploaded PEM chain with its key; throws ApError with a CERT_* code when it cannot be used. */
export function parseCertificateChain(input: string | Uint8Array, now = new Date()): CertificateChain {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (size > MAX_CHAIN_BYTES) {
    throw new ApError('CERT_TOO_LARGE', `The certificate file is ${size} bytes; at most ${MAX_CHAIN_BYTES} are accepted. Upload only the certificate, its intermediates and its key.`);
  }
  const blocks = readPemBlocks(toText(input));
  if (blocks.length === 0) throw notPem('it contains no "-----BEGIN" block');

  const unknown = blocks.find((b) => b.label !== 'CERTIFICATE' && !KEY_LABELS.has(b.label) && !IGNORED_LABELS.has(b.label));
  if (unknown?.label === 'ENCRYPTED PRIVATE KEY' || blocks.some((b) => KEY_LABELS.has(b.label) && /ENCRYPTED/i.test(b.headers.get('proc-type') ?? ''))) {
    throw new ApError(
      'CERT_KEY_ENCRYPTED',
      'The private key is encrypted with a passphrase, which the server cannot enter at boot. Decrypt it first (openssl pkey -in key.pem -out plain.pem) and upload the file with the unencrypted key.',
    );
  }
  if (unknown) throw notPem(`it contains a "${unknown.label}" block; keep only the certificates and one private key`);

  const certBlocks = blocks.filter((b) => b.label === 'CERTIFICATE');
  const keyBlocks = blocks.filter((b) => KEY_LABELS.has(b.label));
  if (certBlocks.length === 0) {
    throw new ApError('CERT_NO_CERTIFICATE', 'The file contains no certificate. Put the server certificate ("-----BEGIN CERTIFICATE-----") first, then its intermediates, then the private key.');
  }
  if (keyBlocks.length === 0) {
    throw new ApError('CERT_NO_KEY', 'The file contains no private key. Append the unencrypted private key ("-----BEGIN PRIVATE KEY-----" or "-----BEGIN RSA PRIVATE KEY-----") to the certificates.');
  }
  if (keyBlocks.length > 1) {
    throw new ApError('CERT_BAD', `The file contains ${keyBlocks.length} private keys; keep only the key of the server certificate.`);
  }

  const certs = certBlocks.map(readCertificate);
  const key = readKey(keyBlocks[0]!);
  checkKey(certs, key);
  checkOrder(certs);

  const leaf = certs[0]!;
  const validFrom = new Date(leaf.validFrom);
  const validTo = new Date(leaf.validTo);
  if (now < validFrom) {
    throw new ApError('CERT_NOT_YET_VALID', `The certificate is valid only from ${validFrom.toISOString()}. Check the clock of this device, or upload a certificate that is valid now.`);
  }
  if (now > validTo) {
    throw new ApError('CERT_EXPIRED', `The certificate expired on ${validTo.toISOString()}. Renew it with your certificate authority and upload the new one.`);
  }
  return {
    certPem: certs.map((c) => c.toString()).join(''),
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    subject: leaf.subject,
    issuer: leaf.issuer,
    validFrom,
    validTo,
    fingerprint256: leaf.fingerprint256,
    altNames: leaf.subjectAltName ?? '',
    selfSigned: selfSigned(leaf),
  };
}

/** Text from the upload; a binary (DER, PKCS#12) file is refused here rather than misread. */
function toText(input: string | Uint8Array): string {
  let text: string;
  try {
    text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    throw notPem('it is not text');
  }
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(text.replace(/^\uFEFF/, ''))) throw notPem('it is not text');
  return text;
}

function notPem(detail: string): ApError {
  return new ApError(
    'CERT_BAD',
    `The file is not a PEM certificate file: ${detail}. Upload one PEM file with the server certificate, its intermediates and the unencrypted private key; convert a DER or .pfx file with openssl first.`,
  );
}

function readCertificate(block: PemBlock, index: number): X509Certificate {
  try {
    return new X509Certificate(block.der);
  } catch (err) {
    throw new ApError('CERT_BAD', `Certificate ${index + 1} in the file cannot be read; upload it again as your certificate authority issued it.`, { cause: err });
  }
}

function readKey(block: PemBlock): KeyObject {
  const type = block.label === 'RSA PRIVATE KEY' ? 'pkcs1' : block.label === 'EC PRIVATE KEY' ? 'sec1' : 'pkcs8';
  try {
    return createPrivateKey({ key: block.der, format: 'der', type });
  } catch (err) {
    throw new ApError('CERT_BAD', `The private key ("${block.label}") cannot be read; upload the key exactly as it was generated.`, { cause: err });
  }
}

function matches(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false; // a key of another type
  }
}

/** The key must belong to the first certificate; if it belongs to a later one, the order is what is wrong. */
function checkKey(certs: X509Certificate[], key: KeyObject): void {
  if (matches(certs[0]!, key)) return;
  const owner = certs.findIndex((c) => matches(c, key));
  if (owner > 0) {
    throw new ApError(
      'CERT_CHAIN_ORDER',
      `The private key belongs to certificate ${owner + 1} (${oneLine(certs[owner]!.subject)}), not to the first one. Put the server certificate first, then its intermediates in order.`,
    );
  }
  throw new ApError('CERT_KEY_MISMATCH', `The private key does not belong to the certificate (${oneLine(certs[0]!.subject)}). Upload the key that was generated with this certificate's request.`);
}

/** Certificate n+1 must have issued certificate n, as TLS clients expect to receive them. */
function checkOrder(certs: X509Certificate[]): void {
  for (let i = 0; i + 1 < certs.length; i++) {
    const child = certs[i]!;
    const parent = certs[i + 1]!;
    if (!issued(child, parent)) {
      throw new ApError(
        'CERT_CHAIN_ORDER',
        `Certificate ${i + 2} (${oneLine(parent.subject)}) did not issue certificate ${i + 1} (${oneLine(child.subject)}). Order the file: server certificate, the intermediate that signed it, the next one up, and optionally the root.`,
      );
    }
  }
}

function issued(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/** Issued by itself and signed by its own key. checkIssued would also demand keyCertSign, which a self-signed server certificate need not have. */
function selfSigned(cert: X509Certificate): boolean {
  try {
    return cert.subject === cert.issuer && cert.verify(cert.publicKey);
  } catch {
    return false;
  }
}

function oneLine(name: string): string {
  return name.split('\n').join(', ');
}
