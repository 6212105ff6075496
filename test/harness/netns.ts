// A supervisor in a network namespace of its own, with a veth pair (10.77.0.1
// and 10.77.0.2): requests from another address than loopback, while nothing
// listens anywhere but inside the namespace. Needs root.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { until } from './http';
import { BUNDLE, REPO } from './supervisor';

/** Whether this process may make a network namespace. */
export const canNamespace = process.getuid?.() === 0 && spawnSync('unshare', ['--net', 'true']).status === 0;

export interface NamespacedSupervisor {
  /** GET /manager/metrics from inside the namespace, from `address`, with curl (`extra`: its arguments, such as -H): the HTTP status. */
  metrics(address: string, ...extra: string[]): number;
  /** Stops it (SIGTERM: its PostgreSQL too) and waits for its end. */
  stop(): Promise<void>;
}

/** Starts `ap serve` on `root` in a namespace of its own, listening on every address there; resolves once it is ready. */
export async function serveInNamespace(root: string): Promise<NamespacedSupervisor> {
  const script = 'ip link set lo up && ip link add v0 type veth peer name v1 && ip addr add 10.77.0.1/24 dev v0 && ip addr add 10.77.0.2/24 dev v1 && ip link set v0 up && ip link set v1 up && exec "$@"';
  const args = [BUNDLE, 'serve', '--root', root, '--host', '0.0.0.0', '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--monitor-interval', '1'];
  const child = spawn('unshare', ['--net', 'sh', '-c', script, 'sh', process.execPath, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const exited = new Promise((resolve) => child.once('close', resolve));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  try {
    const port = await until('the supervisor in its namespace ready', async () => {
      assert.equal(child.exitCode, null, output);
      return /apps at http:\/\/localhost:(\d+)\//.exec(output)?.[1];
    }, 60_000);
    return {
      metrics: (address, ...extra) => {
        const curl = spawnSync('nsenter', [`--net=/proc/${child.pid}/ns/net`, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', ...extra, `http://${address}:${port}/manager/metrics`], { encoding: 'utf8', timeout: 10_000 });
        return Number(curl.stdout);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
