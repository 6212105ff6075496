// A real TLS handshake over loopback: a node:tls server with the given
// certificate and key, one client connection, then both closed.
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';

/** What the client saw when the handshake succeeded. */
export interface HandshakeResult {
  authorized: boolean;
  /** Subject CNs of the certificates the server sent, leaf first. */
  chain: string[];
}

/** Serves `server` on 127.0.0.1, connects once with `client`; rejects with the client's TLS error. */
export async function handshake(server: { cert: string; key: string }, client: tls.ConnectionOptions): Promise<HandshakeResult> {
  const srv = tls.createServer(server, (socket) => socket.end());
  srv.on('tlsClientError', () => {}); // a client refusing our certificate surfaces here as well
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  try {
    const { port } = srv.address() as AddressInfo;
    return await new Promise<HandshakeResult>((resolve, reject) => {
      const socket = tls.connect({ port, host: '127.0.0.1', ...client }, () => {
        const result = { authorized: socket.authorized, chain: peerChain(socket.getPeerCertificate(true)) };
        socket.destroy();
        resolve(result);
      });
      socket.once('error', (err) => {
        socket.destroy();
        reject(err);
      });
    });
  } finally {
    await new Promise((resolve) => srv.close(resolve));
  }
}

function peerChain(cert: tls.DetailedPeerCertificate): string[] {
  const names: string[] = [];
  const seen = new Set<string>();
  // The root's issuerCertificate points at itself.
  for (let c: tls.DetailedPeerCertificate | undefined = cert; c && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
    seen.add(c.fingerprint256);
    names.push(String(c.subject.CN));
  }
  return names;
}
