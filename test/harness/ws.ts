// A WebSocket test client that queues what it receives, for `await next()`.
import WebSocket from 'ws';

export interface Client {
  readonly ws: WebSocket;
  /** The next message: text as a string, binary as a Buffer. */
  next(): Promise<string | Buffer>;
  /** The next text message, parsed. */
  nextJson(): Promise<Record<string, unknown>>;
  sendJson(message: Record<string, unknown>): void;
  /** Resolves with [code, reason] when the server closes. */
  readonly closed: Promise<[number, string]>;
}

export async function connect(url: string, options: WebSocket.ClientOptions = {}): Promise<Client> {
  const ws = new WebSocket(url, options);
  const messages: (string | Buffer)[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    messages.push(isBinary ? data : data.toString());
    waiters.splice(0).forEach((w) => w());
  });
  const closed = new Promise<[number, string]>((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => {
      resolve([code, reason.toString()]);
      waiters.splice(0).forEach((w) => w());
    }),
  );
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const next = async () => {
    while (messages.length === 0) {
      if (ws.readyState === WebSocket.CLOSED) throw new Error(`closed while waiting for a message (${(await closed).join(' ')})`);
      await new Promise<void>((r) => waiters.push(r));
    }
    return messages.shift()!;
  };
  return {
    ws,
    next,
    nextJson: async () => JSON.parse(String(await next())),
    sendJson: (message) => ws.send(JSON.stringify(message)),
    closed,
  };
}
