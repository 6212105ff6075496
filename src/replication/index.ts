// Replication (docs/replication.md). The primary's side: the standby entries
// in the manager database (so a promoted standby still offers them), a
// LOGIN REPLICATION role and a physical slot per standby, and PostgreSQL told
// to listen on TCP with TLS and to let only those roles in from the network,
// for replication only. It promises: the cluster matches the stored mode and
// entries after every change and every start (a crash between steps is
// repaired at the next); bad input changes nothing; the standby side derives
// a standby's role and slot with the same `standbyRole`. The standby's side:
// a box set up from a primary's base backup (standby.ts, swap.ts), its own
// settings in standby.conf (standbyconf.ts), promotion by hand.
import { InvalidField } from '../errors';
import type { SettingSpecs } from '../db';

export { checkStandbyName, generatePassword, isStandbyRole, MAX_STANDBYS, standbyRole } from './names';
export { CONF_FILE, plan, renderConf, withHbaRules, withInclude, type Mode, type Step } from './conf';
export { Replication, type ReplicationOptions } from './primary';
export { commandRestart, runClusterCommand } from './restart';
export { replicationRoutes, type ReplicationControl } from './api';
export { ReplicationWatch, BROKEN, WAL_RETAINED, type WatchOptions, type WatchView, type StandbyWatch, type ReceiverWatch } from './monitor';
export type { ReplicationShown, ReplicationView, StandbyShown, StandbyStateView, StandbyView } from './views';
export { applyPromotion, refuseOnStandby, restoreStandbySettings, StandbyBox, StandbySwitch, type StandbyRequest, type StandbyRestore } from './standby';
export { fileSettings, parsePrimary, parseStandbyConf, readStandbyConf, renderStandbyConf, renderStandbyReplicationConf, type StandbyConf } from './standbyconf';
export { completeSwap, finishSwap, writeMarker } from './swap';
export { classify as classifyBaseBackupError } from './basebackup';

/**
 * The mode is changed through PUT /replication, which applies it; the general
 * settings route would only store it. Handed to settingRoutes by the
 * composition root, over the general setting of that name.
 */
export const REPLICATION_SETTINGS: SettingSpecs = {
  replicationMode: {
    label: 'Replication: off or primary (changed with PUT /replication or ap ctl replication mode, which apply it)',
    default: 'off',
    check: () => {
      throw new InvalidField('replicationMode', 'is changed with PUT /manager/api/replication (ap ctl replication mode off|primary), which applies it');
    },
  },
};
