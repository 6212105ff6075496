// A service written with the SDK in a real child process, spoken to over its
// channel as the supervisor does.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { Channel, decodeJson, Kind, type Frame } from '../../src/channel';
import { REPO } from './supervisor';

export interface SdkChild {
  readonly child: ChildProcess;
  readonly channel: Channel;
  /** Every control message it sent, hello and ready first. */
  readonly control: Record<string, unknown>[];
  /** Resolves with how it exited. */
  readonly exited: Promise<[number | null, string | null]>;
}

/** Starts `source` (a module that imports './src/sdk/index.ts'); every frame goes to `onFrame`; resolves once it is ready. `stderr: 'pipe'` keeps its stderr for the test. */
export async function sdkChild(source: string, onFrame: (frame: Frame) => void, onClose: () => void = () => {}, stderr: 'inherit' | 'pipe' = 'inherit'): Promise<SdkChild> {
  const child = spawn(process.execPath, ['--import', join(REPO, 'test/register.mjs'), '--input-type=module', '-e', source], {
    cwd: REPO,
    stdio: ['ignore', 'inherit', stderr, 'pipe'],
  });
  const exited = new Promise<[number | null, string | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
  const control: Record<string, unknown>[] = [];
  let wakeReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (wakeReady = resolve));
  const channel = new Channel(child.stdio[3] as Socket, {
    frame: (frame: Frame) => {
      if (frame.kind === Kind.CONTROL) {
        const message = decodeJson(frame);
        control.push(message);
        if (message.type === 'ready') wakeReady();
      }
      onFrame(frame);
    },
    drain: () => {},
    close: onClose,
  });
  await Promise.race([ready, exited.then(([code, signal]) => Promise.reject(new Error(`the service exited before it was ready (${code ?? signal})`)))]);
  return { child, channel, control, exited };
}
