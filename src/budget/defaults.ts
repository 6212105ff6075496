// TODO(issue 18, contract): board.json `serviceLimits` (engineer A) replaces this
// table; until then the contract's values per board are here, so the budget has
// a service's limits when neither its app.json nor a setting says.
import type { BoardName } from '../config';

export const BOARD_SERVICE_LIMITS: Readonly<Record<BoardName, { readonly memoryMB: number; readonly instanceMB: number; readonly cpuWeight: number; readonly pids: number }>> = {
  ipx10: { memoryMB: 48, instanceMB: 4, cpuWeight: 100, pids: 64 },
  ipx11: { memoryMB: 64, instanceMB: 6, cpuWeight: 100, pids: 96 },
  ipx13: { memoryMB: 96, instanceMB: 8, cpuWeight: 100, pids: 128 },
  x86_64: { memoryMB: 256, instanceMB: 16, cpuWeight: 100, pids: 256 },
  dev: { memoryMB: 512, instanceMB: 32, cpuWeight: 100, pids: 512 },
};
