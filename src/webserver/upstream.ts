// What the webserver needs of an app service: a stream on its channel.
import type { Frame, Kind } from '../channel';
import type { WebContent } from './static';

export interface StreamHandler {
  frame(frame: Frame): void;
  drain(): void;
  gone(reason: string): void;
}

export interface Upstream {
  readonly name: string;
  /** Whether its instances' WebSockets require the PBX login first. */
  readonly pbxLogin: boolean;
  /** The running package's build label (static files live under /<path>/<build>/). */
  readonly build: string;
  /** Its package's web folder, or null. */
  readonly web: WebContent | null;
  /** Its supervision state: running, starting, backing-off, stopping, stopped, failed. */
  readonly state: string;
  /** Whether it takes new client messages now (false while it stops: its streams stay open for its last answers). */
  readonly accepting: boolean;
  openStream(handler: StreamHandler): number | null;
  closeStream(id: number): void;
  send(kind: Kind, stream: number, payload?: Uint8Array): boolean;
  /** Bytes queued in the channel towards the service. */
  readonly queued: number;
  /** Cuts the service off for breaking the channel's rules; it is restarted. */
  cutOffFor(reason: string): void;
}

export interface Upstreams {
  get(service: string): Upstream | undefined;
  /** Calls `listener` whenever a service changes state (running, failed, stopped, …). */
  onState(listener: (service: string, state: string) => void): void;
  /**
   * The service is being restarted or updated on purpose: its "stopped" is
   * not the end, so its clients wait for the new process as after a crash.
   */
  restarting?(service: string): boolean;
}

/** Bytes of upload queued towards a service before the client upload is held. */
export const UPLOAD_BUDGET = 1024 * 1024;

/** Bytes a service may send on a stream after we asked it to pause, before it counts as flooding. */
export const FLOOD_LIMIT = 8 * 1024 * 1024;
