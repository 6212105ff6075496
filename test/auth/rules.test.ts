// The rules a new Manager or Linux password must follow, each refusal saying which rule.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkNewPassword } from '../../src/auth';
import { InvalidField } from '../../src/errors';

function refusal(password: string): string {
  try {
    checkNewPassword(password);
  } catch (err) {
    assert.ok(err instanceof InvalidField, password);
    assert.equal(err.field, 'password');
    return err.message;
  }
  return 'accepted';
}

describe('new password rules', () => {
  it('refuses the weak passwords of the attack report, saying which rule each breaks', () => {
    assert.match(refusal('aaaaaaaa'), /one character repeated/);
    assert.match(refusal('abcdefgh'), /keyboard or alphabet sequence/);
    assert.match(refusal('qwerty12'), /too common: it is on the list of the most used passwords found in breaches/);
    assert.match(refusal('Pa$$w0rd'), /too common/);
    assert.match(refusal('MyPa$$w0rd-2026'), /contains "password"/);
  });

  it('refuses what is on the list of common and breached passwords, in any case and with look-alike digits', () => {
    for (const password of ['iloveyou', 'SUNSHINE1', 'football1', 'dragon12', 'trustno1', 'zaq12wsx', 'michelle1', 'Jennifer', 'Sunsh1ne', 'f00tb4ll']) {
      assert.match(refusal(password), /too common/, password);
    }
  });

  it('refuses one repeated character and keyboard or alphabet runs, forwards and backwards', () => {
    for (const password of ['ZZZZZZZZZZ', '........', '11111111111']) assert.match(refusal(password), /one character repeated/, password);
    for (const password of ['34567890', '87654321', 'hgfedcba', 'qwertzui', 'POIUYTREW', 'defghijk', 'mnbvcxzlkj', 'cde3xsw2zaq1']) {
      assert.match(refusal(password), /sequence/, password);
    }
  });

  it('refuses the names of the vendor, the product and the accounts, however written', () => {
    for (const [password, word] of [
      ['MyInnovaphone9', 'innovaphone'],
      ['SuperAdmin99', 'admin'],
      ['the-manager-2026', 'manager'],
      ['Passwort-2026', 'passwort'],
      ['App-Platform-7', 'app-?platform'],
      ['m4n4g3r-box!', 'manager'],
    ]) {
      assert.match(refusal(password!), new RegExp(`contains "${word}"`), password);
    }
  });

  it('refuses short and control-character passwords, and the default', () => {
    assert.match(refusal('short'), /too short: at least 8 characters/);
    assert.match(refusal('pwd'), /too short/);
    assert.match(refusal('with\nnewline!'), /control characters/);
  });

  it('accepts strong passwords, including long passphrases', () => {
    for (const password of ['correct horse battery staple', 'Tr0ub4dor&3', 'a-good-pass-2026', 'sêcret:Fjord-71', 'x'.repeat(500) + 'y']) {
      assert.equal(refusal(password), 'accepted', password);
    }
  });
});
