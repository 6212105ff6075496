import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCertificate, generateSelfSigned, parseCertificateChain, writeTlsFiles } from '../../src/tls';
import { handshake } from './handshake';

const DAY_MS = 86_400_000;

describe('generateSelfSigned', () => {
  const now = new Date('2030-03-15T12:34:56Z');
  const pair = generateSelfSigned(['box.example.test', '192.168.7.2'], now);
  const cert = new X509Certificate(pair.certPem);

  it('makes a certificate for the hostnames, localhost and loopback, signed by its own key', () => {
    assert.equal(cert.subject, 'CN=box.example.test');
    assert.equal(cert.issuer, 'CN=box.example.test');
    assert.equal(cert.subjectAltName, 'DNS:box.example.test, DNS:localhost, IP Address:192.168.7.2, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    assert.ok(cert.verify(cert.publicKey));
    assert.ok(cert.checkPrivateKey(createPrivateKey(pair.keyPem)));
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']); // Node reports extKeyUsage here
    assert.match(pair.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.equal(createPrivateKey(pair.keyPem).asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });

  it('is valid from a day before now for ten years, with a positive 16-byte serial', () => {
    assert.equal(new Date(cert.validFrom).getTime(), new Date('2030-03-14T12:34:56Z').getTime());
    assert.equal(new Date(cert.validTo).getTime(), new Date('2040-03-15T12:34:56Z').getTime());
    assert.match(cert.serialNumber, /^[4-7][0-9A-F]{31}$/);
  });

  it('gets a fresh key and serial every time', () => {
    const other = generateSelfSigned(['box.example.test'], now);
    assert.notEqual(new X509Certificate(other.certPem).serialNumber, cert.serialNumber);
    assert.notEqual(other.keyPem, pair.keyPem);
  });

  it('names itself app-platform when there are no hostnames', () => {
    const own = new X509Certificate(generateSelfSigned([]).certPem);
    assert.equal(own.subject, 'CN=app-platform');
    assert.equal(own.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  });

  it('is accepted as an uploaded chain and reported as self-signed', () => {
    const chain = parseCertificateChain(pair.certPem + pair.keyPem, now);
    assert.equal(chain.selfSigned, true);
    assert.equal(chain.subject, 'CN=box.example.test');
    assert.equal(chain.fingerprint256, cert.fingerprint256);
  });
});

describe('TLS with the self-signed certificate', () => {
  const pair = generateSelfSigned(['box.example.test']);
  const server = { cert: pair.certPem, key: pair.keyPem };

  it('completes an authorized handshake for a client that trusts it', async () => {
    const result = await handshake(server, { servername: 'localhost', ca: pair.certPem });
    assert.equal(result.authorized, true);
    assert.deepEqual(result.chain, ['box.example.test']);
    assert.equal((await handshake(server, { servername: 'box.example.test', ca: pair.certPem })).authorized, true);
  });

  it('matches the 127.0.0.1 IP name when the client connects by address', async () => {
    assert.equal((await handshake(server, { ca: pair.certPem })).authorized, true);
  });

  it('is refused by a client that does not trust it', async () => {
    await assert.rejects(handshake(server, { servername: 'localhost' }), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  });

  it('is refused for a name it does not carry', async () => {
    await assert.rejects(handshake(server, { servername: 'other.example.test', ca: pair.certPem }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });
});

describe('createCertificate', () => {
  const root = createCertificate({ commonName: 'Test Root', organization: 'Example', days: 30, isCA: true });
  const intermediate = createCertificate({ commonName: 'Test Intermediate', days: 30, isCA: true, pathLength: 0, issuer: root });
  const leaf = createCertificate({ commonName: 'app.example.test', days: 30, altNames: { dns: ['app.example.test'], ip: ['fd00::12'] }, issuer: intermediate });

  it('issues a CA, an intermediate and a leaf that chain by name, key identifier and signature', () => {
    const [r, i, l] = [root, intermediate, leaf].map((p) => new X509Certificate(p.certPem)) as [X509Certificate, X509Certificate, X509Certificate];
    assert.equal(r.subject, 'O=Example\nCN=Test Root');
    assert.equal(i.issuer, r.subject);
    assert.equal(l.issuer, 'CN=Test Intermediate');
    assert.deepEqual([r.ca, i.ca, l.ca], [true, true, false]);
    assert.ok(i.checkIssued(r) && i.verify(r.publicKey));
    assert.ok(l.checkIssued(i) && l.verify(i.publicKey));
    assert.ok(!l.verify(r.publicKey));
    assert.equal(l.subjectAltName, 'DNS:app.example.test, IP Address:FD00:0:0:0:0:0:0:12');
    const legacy = i.toLegacyObject() as unknown as Record<string, unknown>;
    assert.equal(legacy.ext_key_usage, undefined); // only the leaf is limited to serverAuth
  });

  it('writes years from 2050 on as GeneralizedTime, which OpenSSL reads back', () => {
    const late = new X509Certificate(createCertificate({ commonName: 'late', days: 3650, now: new Date('2045-06-01T00:00:00Z') }).certPem);
    assert.equal(new Date(late.validFrom).toISOString(), '2045-05-31T00:00:00.000Z');
    assert.equal(new Date(late.validTo).toISOString(), '2055-05-30T00:00:00.000Z');
  });

  it('uses a given RSA key pair and signs with RSA when that key is the issuer', () => {
    const keyPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const own = createCertificate({ commonName: 'rsa', days: 1, keyPair });
    const cert = new X509Certificate(own.certPem);
    assert.equal(cert.publicKey.asymmetricKeyType, 'rsa');
    assert.ok(cert.verify(keyPair.publicKey));
    assert.ok(cert.checkPrivateKey(createPrivateKey(own.keyPem)));
  });

  it('refuses bad options and an issuer that is not a CA', () => {
    assert.throws(() => createCertificate({ commonName: 'x', days: 0 }), { name: 'ApError', code: 'CERT_BAD_OPTIONS' });
    assert.throws(() => createCertificate({ commonName: 'x'.repeat(65), days: 1 }), { code: 'CERT_BAD_OPTIONS', message: /commonName/ });
    assert.throws(() => createCertificate({ commonName: 'x', days: 1, altNames: { ip: ['300.1.1.1'] } }), { code: 'CERT_BAD_OPTIONS', message: /300\.1\.1\.1/ });
    assert.throws(() => createCertificate({ commonName: 'x', days: 1, pathLength: 1 }), { code: 'CERT_BAD_OPTIONS' });
    assert.throws(() => createCertificate({ commonName: 'x', days: 1, issuer: leaf }), { code: 'CERT_BAD_ISSUER', message: /not a CA/ });
    assert.throws(() => createCertificate({ commonName: 'x', days: 1, issuer: { certPem: root.certPem, keyPem: intermediate.keyPem } }), { code: 'CERT_BAD_ISSUER' });
  });

  it('serves the chain in a real handshake to a client that trusts only the root', async () => {
    const result = await handshake(
      { cert: leaf.certPem + intermediate.certPem, key: leaf.keyPem },
      { servername: 'app.example.test', ca: root.certPem },
    );
    assert.equal(result.authorized, true);
    assert.deepEqual(result.chain, ['app.example.test', 'Test Intermediate', 'Test Root']);
  });

  it('leaves out the intermediate and the client cannot build the chain', async () => {
    await assert.rejects(handshake({ cert: leaf.certPem, key: leaf.keyPem }, { servername: 'app.example.test', ca: root.certPem }), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
  });

  it('dates a certificate relative to the given now', () => {
    const now = new Date('2031-01-01T00:00:00Z');
    const cert = new X509Certificate(createCertificate({ commonName: 'x', days: 2, now }).certPem);
    assert.equal(new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime(), 3 * DAY_MS);
  });
});

describe('writeTlsFiles', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ap-tls-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const pair = generateSelfSigned(['box.example.test']);

  it('creates a 0700 folder holding the certificate and key as 0600 files', async () => {
    const target = join(dir, 'new', 'tls');
    const files = await writeTlsFiles(target, pair);
    assert.deepEqual(files, { certFile: join(target, 'webserver.crt'), keyFile: join(target, 'webserver.key') });
    assert.equal((await stat(target)).mode & 0o777, 0o700);
    assert.equal((await stat(files.certFile)).mode & 0o777, 0o600);
    assert.equal((await stat(files.keyFile)).mode & 0o777, 0o600);
    assert.equal(await readFile(files.certFile, 'utf8'), pair.certPem);
    assert.equal(await readFile(files.keyFile, 'utf8'), pair.keyPem);
    assert.deepEqual((await readdir(target)).sort(), ['webserver.crt', 'webserver.key']);
  });

  it('tightens an existing folder to 0700 and replaces the pair', async () => {
    const target = join(dir, 'open');
    await mkdir(target, { mode: 0o755 });
    await writeTlsFiles(target, generateSelfSigned(['first.example.test']));
    const files = await writeTlsFiles(target, pair);
    assert.equal((await stat(target)).mode & 0o777, 0o700);
    assert.equal(new X509Certificate(await readFile(files.certFile)).subject, 'CN=box.example.test');
    assert.equal(await readFile(files.keyFile, 'utf8'), pair.keyPem);
    assert.deepEqual((await readdir(target)).sort(), ['webserver.crt', 'webserver.key']);
  });
});
