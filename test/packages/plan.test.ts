// What reconciling the installed services with the manager database's packages
// does, as data: install what is stored and missing or of another build, store
// what is installed and missing, and nothing else.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planReconcile } from '../../src/packages';

const stored = (service: string, version: string, label: string) => ({ service, version, label, files: 3, bytes: 100 });
const installed = (name: string, version: string, label: string) => ({ name, version, label });

describe('planReconcile', () => {
  it('does nothing when every installed service is stored in the same build', () => {
    assert.deepEqual(planReconcile([stored('echo', '1.0.0', '100001')], [installed('echo', '1.0.0', '100001')]), []);
  });

  it('installs a stored package that is not installed, or installed in another build or version', () => {
    assert.deepEqual(
      planReconcile(
        [stored('a', '1.0.0', '1'), stored('b', '2.0.0', '2'), stored('c', '1.1.0', '3')],
        [installed('b', '1.0.0', '1'), installed('c', '1.0.0', '3')],
      ),
      [
        { kind: 'install', service: 'a', version: '1.0.0', label: '1', installed: null },
        { kind: 'install', service: 'b', version: '2.0.0', label: '2', installed: installed('b', '1.0.0', '1') },
        { kind: 'install', service: 'c', version: '1.1.0', label: '3', installed: installed('c', '1.0.0', '3') },
      ],
    );
  });

  it('stores an installed service the database lacks, and removes nothing', () => {
    assert.deepEqual(planReconcile([], [installed('old', '0.9', '9')]), [{ kind: 'store', service: 'old', version: '0.9', label: '9' }]);
    assert.deepEqual(planReconcile([stored('x', '1', '1')], [installed('x', '1', '1'), installed('y', '2', '2')]), [{ kind: 'store', service: 'y', version: '2', label: '2' }]);
  });
});
