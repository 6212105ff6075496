import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidField } from '../../src/errors';
import { validateCreate } from '../../src/records';
import { checkDomain, checkName, checkPassword, checkPath, checkService, shown } from '../../src/names';

const messageOf = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof InvalidField);
    return err.message;
  }
  return assert.fail('expected an InvalidField');
};

describe('the naming rules (one leaf for services, instances, the config file and the command file)', () => {
  it('refuses a webserver path that would not mean itself or is the Manager\'s, and takes a plain one', () => {
    for (const bad of ['/manager', '/manager/x', '/a/..', '/a/%2e%2E', '/a/%2f', '/a/', 'a/b', '/a//b', '/a/%zz']) {
      assert.throws(() => checkPath(bad), InvalidField, bad);
    }
    assert.equal(checkPath('/example.com/app'), '/example.com/app');
  });

  it('names the field it was given and never echoes a control character', () => {
    const err = (() => {
      try {
        checkName('Bad\nName', 'instances[2].name');
      } catch (e) {
        return e as InvalidField;
      }
      return assert.fail('expected an InvalidField');
    })();
    assert.equal(err.field, 'instances[2].name');
    assert.equal(err.message.includes('\n'), false);
    assert.equal(shown('x'.repeat(100)), `"${'x'.repeat(80)}…"`);
  });

  it('is the rule the instance model applies: the same values refused with the same words', () => {
    const base = { service: 'echo', name: 'app', domain: 'example.com', password: 'pw' };
    const cases: [Record<string, unknown>, () => unknown][] = [
      [{ name: 'Bad Name' }, () => checkName('Bad Name')],
      [{ domain: 'x..com' }, () => checkDomain('x..com')],
      [{ service: 'root' }, () => checkService('root')],
      [{ path: '/manager/app' }, () => checkPath('/manager/app')],
      [{ password: '' }, () => checkPassword('')],
    ];
    for (const [change, check] of cases) {
      assert.equal(messageOf(() => validateCreate({ ...base, ...change })), messageOf(check), JSON.stringify(change));
    }
  });
});
