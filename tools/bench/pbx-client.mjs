// WebSocket clients that log in through the supervisor's PBX login
// (AppChallenge → AppLogin → the service's greeting), shared by the benchmarks.
import { createHash } from 'node:crypto';
import WebSocket from 'ws';

const sha = (s) => createHash('sha256').update(s, 'utf8').digest('hex');

/**
 * Opens client `i` (spread over 127.0.2.1… so that no per-address limit is
 * met) to `url`; with `login` ({ app, domain, password }: the instance's name,
 * domain and password) it logs in as user<i>. Resolves once ready for echo.
 */
export function client(url, i, login) {
  const localAddress = `127.0.${2 + Math.floor(i / 250)}.${1 + (i % 250)}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false });
    ws.once('error', reject);
    ws.once('open', () => {
      if (!login) return resolve(ws);
      ws.send(JSON.stringify({ mt: 'AppChallenge' }));
      let phase = 'challenge';
      const onMessage = (data) => {
        const m = JSON.parse(data.toString());
        if (phase === 'challenge') {
          phase = 'login';
          const digest = sha([login.app, login.domain, `user${i}`, '', '', m.challenge, login.password].join(':'));
          ws.send(JSON.stringify({ mt: 'AppLogin', app: login.app, domain: login.domain, sip: `user${i}`, digest }));
        } else if (phase === 'login') {
          if (!m.ok) return reject(new Error('login failed'));
          phase = 'hello';
        } else {
          ws.off('message', onMessage);
          resolve(ws); // the service's greeting arrived: the connection is open end to end
        }
      };
      ws.on('message', onMessage);
    });
  });
}

/**
 * Opens `n` clients, 200 at a time; `target(i)` gives client i's URL and
 * login (or null), so that clients can be spread over instances.
 */
export async function openMany(n, target) {
  const clients = [];
  for (let i = 0; i < n; i += 200) {
    clients.push(...(await Promise.all(Array.from({ length: Math.min(200, n - i) }, (_, k) => {
      const { url, login } = target(i + k);
      return client(url, i + k, login);
    }))));
  }
  return clients;
}
