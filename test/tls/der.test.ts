// The DER encoder is internal to src/tls; its encodings are checked here
// against the byte strings X.690 and RFC 5280 give.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as der from '../../src/tls/der';

const hex = (b: Buffer) => b.toString('hex');

describe('der', () => {
  it('encodes integers as minimal two-complement positives', () => {
    assert.equal(hex(der.integer(0)), '020100');
    assert.equal(hex(der.integer(2)), '020102');
    assert.equal(hex(der.integer(127)), '02017f');
    assert.equal(hex(der.integer(128)), '02020080');
    assert.equal(hex(der.integer(256)), '02020100');
    assert.equal(hex(der.integer(Buffer.from('0000ff', 'hex'))), '020200ff');
    assert.equal(hex(der.integer(Buffer.alloc(0))), '020100');
    assert.throws(() => der.integer(-1), RangeError);
  });

  it('encodes object identifiers, including multi-byte arcs', () => {
    assert.equal(hex(der.oid('1.2.840.10045.4.3.2')), '06082a8648ce3d040302');
    assert.equal(hex(der.oid('2.5.29.19')), '0603551d13');
    assert.equal(hex(der.oid('2.999.3')), '0603883703');
    assert.throws(() => der.oid('1'), RangeError);
    assert.throws(() => der.oid('1.2.x'), RangeError);
  });

  it('uses long-form lengths from 128 bytes on', () => {
    assert.equal(hex(der.octetString(Buffer.alloc(127))).slice(0, 4), '047f');
    assert.equal(hex(der.octetString(Buffer.alloc(128))).slice(0, 6), '048180');
    assert.equal(hex(der.octetString(Buffer.alloc(300))).slice(0, 8), '0482012c');
  });

  it('encodes strings, booleans, null and sequences', () => {
    assert.equal(hex(der.utf8String('é')), '0c02c3a9');
    assert.equal(hex(der.printableString('Ab 1')), '130441622031');
    assert.throws(() => der.printableString('a@b'), RangeError);
    assert.equal(hex(der.boolean(true)), '0101ff');
    assert.equal(hex(der.boolean(false)), '010100');
    assert.equal(hex(der.nul()), '0500');
    assert.equal(hex(der.sequence(der.integer(1), der.boolean(true))), '30060201010101ff');
    assert.equal(hex(der.set(der.integer(2), der.integer(1))), '3106020101020102'); // SET OF sorted
  });

  it('drops trailing zero bits of named bit strings', () => {
    assert.equal(hex(der.namedBits([0])), '03020780'); // digitalSignature
    assert.equal(hex(der.namedBits([5, 6])), '03020106'); // keyCertSign, cRLSign
    assert.equal(hex(der.namedBits([0, 8])), '0303078080');
    assert.equal(hex(der.bitString(Buffer.from([0xab]))), '030200ab');
  });

  it('writes UTCTime for 1950-2049 and GeneralizedTime otherwise', () => {
    assert.equal(der.time(new Date('2049-12-31T23:59:59.900Z')).toString('latin1'), '\x17\x0d491231235959Z');
    assert.equal(der.time(new Date('2050-01-01T00:00:00Z')).toString('latin1'), '\x18\x0f20500101000000Z');
    assert.equal(der.time(new Date('1950-01-01T00:00:00Z')).toString('latin1'), '\x17\x0d500101000000Z');
    assert.equal(der.time(new Date('1949-12-31T00:00:00Z')).toString('latin1'), '\x18\x0f19491231000000Z');
  });

  it('tags context-specific elements explicitly and implicitly', () => {
    assert.equal(hex(der.explicit(0, der.integer(2))), 'a003020102');
    assert.equal(hex(der.implicit(2, Buffer.from('a'))), '820161');
    assert.equal(hex(der.implicit(1, der.integer(1), true)), 'a103020101');
    assert.throws(() => der.explicit(31, der.nul()), RangeError);
  });

  it('reads back what it writes', () => {
    const encoded = der.sequence(der.integer(5), der.octetString(Buffer.alloc(200, 1)));
    const top = der.read(encoded);
    assert.equal(top.tag, 0x30);
    assert.deepEqual(
      der.children(top.content).map((e) => [e.tag, e.content.length]),
      [
        [0x02, 1],
        [0x04, 200],
      ],
    );
    assert.throws(() => der.read(encoded.subarray(0, 10)), RangeError);
  });
});
