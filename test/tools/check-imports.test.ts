// The import rules the build enforces (tools/check-imports.mjs).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
// @ts-expect-error: a plain .mjs tool without types
import { checkImports, stronglyConnected } from '../../tools/check-imports.mjs';

describe('import rules', () => {
  it('find a cycle, however long, and nothing in a tree', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
      ['e', ['e']],
    ]);
    const components = (stronglyConnected(graph) as string[][]).filter((c) => c.length > 1);
    assert.deepEqual(components, [['a', 'b', 'c']]);
    const tree = new Map([['x', ['y', 'z']], ['y', ['z']], ['z', []]]);
    assert.ok((stronglyConnected(tree) as string[][]).every((c) => c.length === 1));
  });

  it('hold for src/ as it is: no runtime cycle, no deep import beyond the listed ones', async () => {
    assert.deepEqual(await checkImports(), []);
  });
});
