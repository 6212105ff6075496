// Which alarms the monitor mails as they are raised: a broken replication
// waits for its 5 minutes (src/replication mails it), disk alarms keep their
// own schedule.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mailsWhenRaised } from '../../src/monitor';

describe('alarms mailed when raised', () => {
  it('mails critical and major alarms at once, except disk alarms and REPLICATION_BROKEN', () => {
    assert.equal(mailsWhenRaised({ source: 'service:echo', code: 'CRASH_LOOP', severity: 'critical' }), true);
    assert.equal(mailsWhenRaised({ source: 'backup:a@example.com', code: 'BACKUP_FAILED', severity: 'major' }), true);
    assert.equal(mailsWhenRaised({ source: 'tls', code: 'CERT_EXPIRING', severity: 'warning' }), false);
    assert.equal(mailsWhenRaised({ source: 'disk', code: 'DISK_FULL', severity: 'critical' }), false);
    assert.equal(mailsWhenRaised({ source: 'replication:standby1.example.com', code: 'REPLICATION_BROKEN', severity: 'major' }), false);
    assert.equal(mailsWhenRaised({ source: 'replication', code: 'REPLICATION_BROKEN', severity: 'major' }), false);
  });
});
