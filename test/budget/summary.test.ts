// The budget's pure parts: the one-line summary a refusal quotes, and the
// process tree the supervisor's and PostgreSQL's figures are summed over.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summary } from '../../src/budget/measure';
import type { BudgetView } from '../../src/budget';
import { descendants, type Proc } from '../../src/procfs';

const MiB = 1024 * 1024;
const service = (name: string, state: string, reservedMB: number) => ({
  name,
  state,
  instances: 1,
  memoryMB: 48,
  instanceMB: 4,
  declaredBytes: 52 * MiB,
  usageBytes: null,
  peakBytes: null,
  reservedBytes: reservedMB * MiB,
});

describe('the budget in one line', () => {
  it('names every part, the connections and their cost, and only the services that reserve something', () => {
    const budget: BudgetView = {
      totalBytes: 256 * MiB,
      totalFrom: 'board',
      memTotalBytes: 230 * MiB,
      kernel: { bytes: 38 * MiB, reservedBytes: 26 * MiB, fields: { SUnreclaim: 12 * MiB } },
      supervisor: { bytes: 52 * MiB, pids: [1] },
      postgres: { bytes: 31 * MiB, pids: [2, 3], connections: 4, ownConnections: 2, perConnectionBytes: 5 * MiB, perConnectionMeasured: true },
      services: [service('a', 'running', 60), service('b', 'backing-off', 64), service('c', 'stopped', 0)],
      servicesBytes: 124 * MiB,
      freeBytes: 11 * MiB,
    };
    assert.equal(summary(budget), '11 MB free of 256 MB (kernel 38, supervisor 52, PostgreSQL 31 with 4 connections of ~5 MB, services 124: a 60, b 64)');
    const over = { ...budget, freeBytes: -20 * MiB, services: [], servicesBytes: 0, postgres: { ...budget.postgres, connections: 1 } };
    assert.equal(summary(over), '-20 MB free of 256 MB (kernel 38, supervisor 52, PostgreSQL 31 with 1 connection of ~5 MB, services 0)');
  });
});

describe('a process tree', () => {
  const proc = (pid: number, ppid: number): Proc => ({ pid, ppid, pgrp: pid, ticks: 0, rssPages: 0 });
  const table = [proc(1, 0), proc(10, 1), proc(11, 10), proc(12, 11), proc(20, 1), proc(13, 10)];

  it('is a process and everything below it, however deep', () => {
    assert.deepEqual(descendants(table, [10]).sort((a, b) => a - b), [10, 11, 12, 13]);
    assert.deepEqual(descendants(table, [20]), [20]);
  });

  it('is empty for a process that is gone', () => {
    assert.deepEqual(descendants(table, [99]), []);
  });
});
