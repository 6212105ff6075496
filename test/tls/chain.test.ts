import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { createCertificate, MAX_CHAIN_BYTES, parseCertificateChain } from '../../src/tls';
import { handshake } from './handshake';

const root = createCertificate({ commonName: 'Upload Root', organization: 'Example CA', days: 3650, isCA: true });
const intermediate = createCertificate({ commonName: 'Upload Intermediate', organization: 'Example CA', days: 3650, isCA: true, pathLength: 0, issuer: root });
const leaf = createCertificate({
  commonName: 'shop.example.test',
  altNames: { dns: ['shop.example.test', 'www.shop.example.test'], ip: ['10.0.0.5'] },
  days: 365,
  issuer: intermediate,
});
/** The vendor's documented order: certificate, intermediate, root, then the key. */
const vendorFile = leaf.certPem + intermediate.certPem + root.certPem + leaf.keyPem;

const pemBlocks = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];

describe('parseCertificateChain accepts', () => {
  it('the vendor order and reports the server certificate', () => {
    const chain = parseCertificateChain(vendorFile);
    const own = new X509Certificate(leaf.certPem);
    assert.deepEqual(pemBlocks(chain.certPem).map((b) => new X509Certificate(b).subject), [
      'CN=shop.example.test',
      'O=Example CA\nCN=Upload Intermediate',
      'O=Example CA\nCN=Upload Root',
    ]);
    assert.equal(chain.subject, 'CN=shop.example.test');
    assert.equal(chain.issuer, 'O=Example CA\nCN=Upload Intermediate');
    assert.equal(chain.altNames, 'DNS:shop.example.test, DNS:www.shop.example.test, IP Address:10.0.0.5');
    assert.equal(chain.fingerprint256, own.fingerprint256);
    assert.equal(chain.validFrom.getTime(), new Date(own.validFrom).getTime());
    assert.equal(chain.validTo.getTime(), new Date(own.validTo).getTime());
    assert.equal(chain.selfSigned, false);
    assert.ok(own.checkPrivateKey(createPrivateKey(chain.keyPem)));
  });

  it('a chain that serves a real handshake to a client trusting only the root', async () => {
    const chain = parseCertificateChain(vendorFile);
    const result = await handshake({ cert: chain.certPem, key: chain.keyPem }, { servername: 'www.shop.example.test', ca: root.certPem });
    assert.equal(result.authorized, true);
    assert.deepEqual(result.chain, ['shop.example.test', 'Upload Intermediate', 'Upload Root']);
  });

  it('the key anywhere, CRLF line ends, and text around the blocks', () => {
    const messy = `Bag Attributes\n    friendlyName: shop\nsubject=CN = shop.example.test\n${leaf.keyPem}${leaf.certPem}\n\n${intermediate.certPem}`.replace(/\n/g, '\r\n');
    const chain = parseCertificateChain(messy);
    assert.equal(pemBlocks(chain.certPem).length, 2);
    assert.equal(chain.subject, 'CN=shop.example.test');
    assert.equal(parseCertificateChain(Buffer.from(messy)).fingerprint256, chain.fingerprint256);
  });

  it('an RSA key in "RSA PRIVATE KEY" (PKCS#1) form, which also serves a handshake', async () => {
    const keyPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsa = createCertificate({ commonName: 'rsa.example.test', altNames: { dns: ['rsa.example.test'] }, days: 30, issuer: intermediate, keyPair });
    const pkcs1 = keyPair.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    assert.match(pkcs1, /^-----BEGIN RSA PRIVATE KEY-----/);
    const chain = parseCertificateChain(rsa.certPem + intermediate.certPem + pkcs1);
    assert.equal(createPrivateKey(chain.keyPem).asymmetricKeyType, 'rsa');
    const result = await handshake({ cert: chain.certPem, key: chain.keyPem }, { servername: 'rsa.example.test', ca: root.certPem });
    assert.equal(result.authorized, true);
  });

  it('an EC key in "EC PRIVATE KEY" (SEC1) form, with the EC PARAMETERS block openssl writes', () => {
    const sec1 = createPrivateKey(leaf.keyPem).export({ type: 'sec1', format: 'pem' }).toString();
    assert.match(sec1, /^-----BEGIN EC PRIVATE KEY-----/);
    const params = '-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n';
    const chain = parseCertificateChain(leaf.certPem + intermediate.certPem + params + sec1);
    assert.ok(new X509Certificate(leaf.certPem).checkPrivateKey(createPrivateKey(chain.keyPem)));
  });
});

describe('parseCertificateChain refuses', () => {
  const refuses = (input: string | Uint8Array, code: string, message?: RegExp, now?: Date) =>
    assert.throws(() => parseCertificateChain(input, now), { name: 'ApError', code, ...(message ? { message } : {}) });

  it('certificates out of order', () => {
    refuses(intermediate.certPem + leaf.certPem + root.certPem + leaf.keyPem, 'CERT_CHAIN_ORDER', /belongs to certificate 2/);
    refuses(leaf.certPem + root.certPem + intermediate.certPem + leaf.keyPem, 'CERT_CHAIN_ORDER', /Certificate 2 .*Upload Root.* did not issue certificate 1/);
  });

  it('a file without a key, without a certificate, or with two keys', () => {
    refuses(leaf.certPem + intermediate.certPem, 'CERT_NO_KEY', /private key/);
    refuses(leaf.keyPem, 'CERT_NO_CERTIFICATE');
    refuses(leaf.certPem + leaf.keyPem + intermediate.keyPem, 'CERT_BAD', /2 private keys/);
  });

  it('an encrypted key, in PKCS#8 or with a Proc-Type header', () => {
    const key = createPrivateKey(leaf.keyPem);
    const pkcs8 = key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }).toString();
    assert.match(pkcs8, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    refuses(leaf.certPem + pkcs8, 'CERT_KEY_ENCRYPTED', /passphrase/);
    const sec1 = key.export({ type: 'sec1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }).toString();
    assert.match(sec1, /Proc-Type: 4,ENCRYPTED/);
    refuses(leaf.certPem + sec1, 'CERT_KEY_ENCRYPTED');
  });

  it('the key of another certificate', () => {
    refuses(leaf.certPem + intermediate.certPem + createCertificate({ commonName: 'other', days: 1 }).keyPem, 'CERT_KEY_MISMATCH', /does not belong/);
  });

  it('an expired certificate, and one not yet valid', () => {
    const old = createCertificate({ commonName: 'old', days: 2, issuer: intermediate, now: new Date(Date.now() - 30 * 86_400_000) });
    refuses(old.certPem + intermediate.certPem + old.keyPem, 'CERT_EXPIRED', /expired on/);
    refuses(vendorFile, 'CERT_NOT_YET_VALID', /valid only from/, new Date(Date.now() - 10 * 86_400_000));
    refuses(vendorFile, 'CERT_EXPIRED', undefined, new Date(Date.now() + 400 * 86_400_000));
  });

  it('garbage, binary and plain text', () => {
    refuses(randomBytes(2048), 'CERT_BAD', /not text/);
    refuses(new X509Certificate(leaf.certPem).raw, 'CERT_BAD');
    refuses('hello, this is my certificate', 'CERT_BAD', /no "-----BEGIN" block/);
    refuses('', 'CERT_BAD');
  });

  it('a file over 64 KiB', () => {
    refuses(vendorFile + ' '.repeat(MAX_CHAIN_BYTES), 'CERT_TOO_LARGE', /at most 65536/);
    refuses(new Uint8Array(MAX_CHAIN_BYTES + 1), 'CERT_TOO_LARGE');
  });

  it('a certificate that does not parse, naming which one', () => {
    const broken = '-----BEGIN CERTIFICATE-----\nMIIBkzCCATigAwIBAgIQ\n-----END CERTIFICATE-----\n';
    refuses(leaf.certPem + broken + leaf.keyPem, 'CERT_BAD', /Certificate 2 /);
  });

  it('broken PEM armour and blocks that do not belong', () => {
    refuses(leaf.certPem.replace('-----END CERTIFICATE-----\n', '') + leaf.keyPem, 'CERT_BAD', /has no END line/);
    refuses(leaf.certPem.replace('M', '*') + leaf.keyPem, 'CERT_BAD', /not valid base64/);
    refuses(leaf.certPem + leaf.keyPem + '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n', 'CERT_BAD', /CERTIFICATE REQUEST/);
  });
});
