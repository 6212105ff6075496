// X.509 v3 certificates built with node:crypto alone: the self-signed
// certificate the webserver starts with, and test CAs and chains.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { ApError } from '../errors';
import * as der from './der';
import { ipBytes } from './ip';
import { toPem } from './pem';

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

// keyUsage bit numbers (RFC 5280 4.2.1.3).
const DIGITAL_SIGNATURE = 0;
const KEY_ENCIPHERMENT = 2;
const KEY_CERT_SIGN = 5;
const CRL_SIGN = 6;

const DAY_MS = 86_400_000;

/** What to put in a certificate; without `issuer` it is self-signed, without `keyPair` a new P-256 key is made. */
export interface CertificateOptions {
  commonName: string;
  organization?: string;
  altNames?: { dns?: string[]; ip?: string[] };
  /** Validity after `now`; the certificate is also valid from one day before `now`, for clocks that lag. */
  days: number;
  isCA?: boolean;
  /** basicConstraints pathLenConstraint, for CA certificates only. */
  pathLength?: number;
  issuer?: { certPem: string; keyPem: string };
  keyPair?: { publicKey: KeyObject; privateKey: KeyObject };
  now?: Date;
}

/** A certificate and its private key, both PEM (the key as PKCS#8 "PRIVATE KEY"). */
export interface CertificateAndKey {
  certPem: string;
  keyPem: string;
}

/** Builds and signs an X.509 v3 certificate (ecdsa-with-SHA256, or sha256WithRSAEncryption for an RSA issuer key). */
export function createCertificate(options: CertificateOptions): CertificateAndKey {
  checkOptions(options);
  const now = options.now ?? new Date();
  const { publicKey, privateKey } = options.keyPair ?? generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const subject = name(options.commonName, options.organization);
  const issuer = options.issuer ? readIssuer(options.issuer) : undefined;
  const signingKey = issuer?.key ?? privateKey;
  const algorithm = signatureAlgorithm(signingKey);
  const tbs = der.sequence(
    der.explicit(0, der.integer(2)), // v3
    der.integer(serialNumber()),
    algorithm,
    issuer?.name ?? subject,
    der.sequence(der.time(new Date(now.getTime() - DAY_MS)), der.time(new Date(now.getTime() + options.days * DAY_MS))),
    subject,
    spki,
    der.explicit(3, der.sequence(...extensions(options, publicKey, keyIdentifier(spki), issuer?.keyId))),
  );
  const signature = sign('sha256', tbs, signingKey); // DER (r, s) for EC keys, as X.509 wants
  const certificate = der.sequence(tbs, algorithm, der.bitString(signature));
  return { certPem: toPem('CERTIFICATE', certificate), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** The webserver's first certificate: self-signed, for `hostnames` plus localhost, 127.0.0.1 and ::1, valid 10 years. */
export function generateSelfSigned(hostnames: string[], now = new Date()): CertificateAndKey {
  const names = [...new Set(hostnames.map((h) => h.trim()).filter((h) => h !== ''))];
  const until = new Date(now);
  until.setUTCFullYear(until.getUTCFullYear() + 10);
  return createCertificate({
    // A common name is at most 64 characters (RFC 5280 ub-common-name); clients match on the SANs anyway.
    commonName: names.find((h) => h.length <= 64) ?? 'app-platform',
    altNames: {
      dns: [...names.filter((h) => !ipBytes(h)), 'localhost'],
      ip: [...names.filter((h) => ipBytes(h)), '127.0.0.1', '::1'],
    },
    days: (until.getTime() - now.getTime()) / DAY_MS,
    now,
  });
}

function checkOptions(o: CertificateOptions): void {
  if (o.commonName === '' || o.commonName.length > 64) throw badOptions('commonName must have 1 to 64 characters');
  if (o.organization !== undefined && (o.organization === '' || o.organization.length > 64)) throw badOptions('organization must have 1 to 64 characters');
  if (!Number.isFinite(o.days) || o.days <= 0) throw badOptions('days must be a positive number');
  if (o.pathLength !== undefined && (!o.isCA || !Number.isSafeInteger(o.pathLength) || o.pathLength < 0)) {
    throw badOptions('pathLength must be a non-negative integer, and only for a CA');
  }
}

function badOptions(detail: string): ApError {
  return new ApError('CERT_BAD_OPTIONS', `Cannot create the certificate: ${detail}.`);
}

/** A Name with O (if given) then CN, each in its own RDN, as UTF8String. */
function name(commonName: string, organization?: string): Buffer {
  const rdn = (type: string, value: string) => der.set(der.sequence(der.oid(type), der.utf8String(value)));
  return der.sequence(...(organization ? [rdn(OID.organization, organization)] : []), rdn(OID.commonName, commonName));
}

/** A random positive 16-byte serial; the set second bit keeps it 16 bytes long and non-zero. */
function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes;
}

function signatureAlgorithm(key: KeyObject): Buffer {
  if (key.asymmetricKeyType === 'ec') return der.sequence(der.oid(OID.ecdsaWithSha256));
  if (key.asymmetricKeyType === 'rsa') return der.sequence(der.oid(OID.sha256WithRsa), der.nul());
  throw new ApError('CERT_KEY_UNSUPPORTED', `Cannot sign a certificate with a ${key.asymmetricKeyType ?? 'unknown'} key; use an EC or RSA key.`);
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(spki: Buffer): Buffer {
  const bits = der.children(der.read(spki).content)[1];
  if (!bits) throw new RangeError('der: subjectPublicKeyInfo without a key');
  return createHash('sha1').update(bits.content.subarray(1)).digest();
}

/** The issuer's subject Name exactly as encoded (chain building compares it) and its key identifier. */
function readIssuer(issuer: { certPem: string; keyPem: string }): { key: KeyObject; name: Buffer; keyId: Buffer } {
  let cert: X509Certificate;
  let key: KeyObject;
  try {
    cert = new X509Certificate(issuer.certPem);
    key = createPrivateKey(issuer.keyPem);
  } catch (err) {
    throw new ApError('CERT_BAD_ISSUER', 'Cannot read the issuer certificate or key; pass the PEM pair of a CA certificate.', { cause: err });
  }
  if (!cert.ca) throw new ApError('CERT_BAD_ISSUER', `The issuer certificate (${cert.subject}) is not a CA certificate.`);
  if (!cert.checkPrivateKey(key)) throw new ApError('CERT_BAD_ISSUER', 'The issuer key does not belong to the issuer certificate.');
  const tbs = der.children(der.read(cert.raw).content)[0];
  const fields = tbs ? der.children(tbs.content) : [];
  const at = fields[0]?.tag === 0xa0 ? 1 : 0; // the version field is absent in v1 certificates
  const name = fields[at + 4];
  const spki = fields[at + 5];
  if (!name || !spki) throw new ApError('CERT_BAD_ISSUER', 'The issuer certificate has no subject or public key.');
  return { key, name: name.raw, keyId: ownKeyIdentifier(fields) ?? keyIdentifier(spki.raw) };
}

/** The subjectKeyIdentifier extension's value, if the certificate has one; the AKI must repeat it. */
function ownKeyIdentifier(fields: der.Element[]): Buffer | undefined {
  const wanted = der.oid(OID.subjectKeyIdentifier);
  const container = fields.find((f) => f.tag === 0xa3);
  const list = container ? der.children(container.content)[0] : undefined;
  for (const ext of list ? der.children(list.content) : []) {
    const parts = der.children(ext.content);
    const value = parts[parts.length - 1];
    if (parts[0]?.raw.equals(wanted) && value) return der.read(value.content).content;
  }
  return undefined;
}

function extensions(o: CertificateOptions, publicKey: KeyObject, subjectKeyId: Buffer, authorityKeyId?: Buffer): Buffer[] {
  const constraints = o.isCA ? [der.boolean(true), ...(o.pathLength !== undefined ? [der.integer(o.pathLength)] : [])] : [];
  // An RSA server key may also be used for RSA key exchange by old TLS 1.2 clients.
  const leafUsage = publicKey.asymmetricKeyType === 'rsa' ? [DIGITAL_SIGNATURE, KEY_ENCIPHERMENT] : [DIGITAL_SIGNATURE];
  const list = [
    extension(OID.basicConstraints, true, der.sequence(...constraints)),
    extension(OID.keyUsage, true, der.namedBits(o.isCA ? [KEY_CERT_SIGN, CRL_SIGN] : leafUsage)),
  ];
  if (!o.isCA) list.push(extension(OID.extKeyUsage, false, der.sequence(der.oid(OID.serverAuth))));
  const names = altNames(o.altNames);
  if (names.length > 0) list.push(extension(OID.subjectAltName, false, der.sequence(...names)));
  list.push(extension(OID.subjectKeyIdentifier, false, der.octetString(subjectKeyId)));
  if (authorityKeyId) list.push(extension(OID.authorityKeyIdentifier, false, der.sequence(der.implicit(0, authorityKeyId))));
  return list;
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return der.sequence(der.oid(id), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
}

/** GeneralNames: dNSName [2] and iPAddress [7], duplicates dropped. */
function altNames(names: CertificateOptions['altNames']): Buffer[] {
  const dns = [...new Set(names?.dns ?? [])].map((host) => {
    if (!/^[\x21-\x7e]+$/.test(host)) throw badOptions(`${JSON.stringify(host)} is not a DNS name (use ASCII, punycode for IDNs)`);
    return der.implicit(2, Buffer.from(host, 'ascii'));
  });
  const ip = [...new Set(names?.ip ?? [])].map((address) => {
    const bytes = ipBytes(address);
    if (!bytes) throw badOptions(`${JSON.stringify(address)} is not an IP address`);
    return der.implicit(7, bytes);
  });
  return [...dns, ...ip];
}
