// The sweep finds every process of a service's account, also one that forged
// its marker to look like another supervisor's; only a marker naming a root
// that really has a running supervisor (a lock file of root's) is passed over.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { MARKER, processesOf } from '../../src/services/sweep';

const asRoot = process.getuid?.() === 0;
const UID = 65534; // nobody: an account no test service uses
const children: ChildProcess[] = [];

function sleeper(marker: string): ChildProcess {
  const child = spawn('sleep', ['60'], { uid: UID, gid: UID, stdio: 'ignore', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', [MARKER]: marker } });
  children.push(child);
  return child;
}

after(() => {
  for (const child of children) child.kill('SIGKILL');
});

describe('the process sweep', { skip: asRoot ? false : 'needs root to run a process as another uid' }, () => {
  it('finds a process of the account whose marker names another root, unless a supervisor runs there', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ap-sweep-'));
    try {
      const running = join(dir, 'running');
      await mkdir(join(running, 'var/run'), { recursive: true });
      await writeFile(join(running, 'var/run/ap.pid'), `${process.pid}\n`); // root's file, a live process
      const forged = sleeper(`${join(dir, 'nothing-runs-here')}:svc`);
      const other = sleeper(`${running}:svc`);
      const own = sleeper(`${dir}/ours:svc`);
      // 'spawn' comes after exec: from then on /proc shows the marker and the uid.
      await Promise.all([forged, other, own].map((child) => once(child, 'spawn')));
      const found = processesOf({ uid: UID, marker: `${dir}/ours:svc` });
      assert.ok(found.includes(own.pid!), 'its own marker');
      assert.ok(found.includes(forged.pid!), 'a marker naming a root where no supervisor runs');
      assert.ok(!found.includes(other.pid!), 'a running supervisor elsewhere keeps its own');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
