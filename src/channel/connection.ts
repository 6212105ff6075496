// A channel over one Unix stream socket: frames out with the socket's own
// backpressure, frames in through the codec. Used by both ends (supervisor
// and SDK). Anything malformed from the peer ends the channel with a
// ChannelError; it never throws into the caller's event loop.
import type { Duplex } from 'node:stream';
import { ChannelError, DEFAULT_MAX_PAYLOAD, encodeControl, encodeHeader, FrameDecoder, HEADER_SIZE, type Frame, type Kind } from './codec';

export interface ChannelHandlers {
  /** A frame arrived. Throwing a ChannelError here ends the channel with it. */
  frame(frame: Frame): void;
  /** The socket can take more after `send` returned false. */
  drain?(): void;
  /** The channel ended: null when the peer closed it cleanly, else why it was cut off. */
  close(error: Error | null): void;
}

export interface ChannelOptions {
  readonly maxPayload?: number;
}

export class Channel {
  private readonly decoder: FrameDecoder;
  private ended = false;
  private corked = false;

  constructor(
    private readonly socket: Duplex,
    private readonly handlers: ChannelHandlers,
    options: ChannelOptions = {},
  ) {
    this.decoder = new FrameDecoder(options.maxPayload ?? DEFAULT_MAX_PAYLOAD);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => handlers.drain?.());
    socket.on('error', (err) => this.end(err));
    socket.on('close', () => this.end(null));
    socket.on('end', () => this.end(null));
  }

  /** Bytes queued in the socket, not yet taken by the kernel. */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  get closed(): boolean {
    return this.ended;
  }

  /**
   * Frames sent during one turn of the event loop leave in one writev: the
   * socket is corked at the first send and uncorked in setImmediate, right
   * after the loop's I/O phase.
   */
  private batch(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    setImmediate(this.uncork);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  /** Stops reading the peer's frames until resume() (the peer's writes wait). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Sends one frame; false means "wait for drain before sending more". */
  send(kind: Kind, stream: number, payload?: Uint8Array): boolean {
    if (this.ended) return false;
    this.batch();
    const length = payload?.length ?? 0;
    if (length <= 4096) {
      const frame = Buffer.allocUnsafe(HEADER_SIZE + length);
      frame.set(encodeHeader(kind, stream, length), 0);
      if (payload) frame.set(payload, HEADER_SIZE);
      return this.socket.write(frame);
    }
    // Large payloads go out without a copy; corking keeps header and body in one writev.
    this.socket.cork();
    this.socket.write(encodeHeader(kind, stream, length));
    const ok = this.socket.write(payload);
    this.socket.uncork();
    return ok;
  }

  /** Sends a CONTROL frame holding `message` as JSON. */
  sendControl(message: Record<string, unknown>): boolean {
    if (this.ended) return false;
    this.batch();
    return this.socket.write(encodeControl(message));
  }

  /**
   * Ends the channel cleanly once everything sent has left: resolves when the
   * kernel holds the last byte (the peer still reads it after we exit), or
   * when the channel ended meanwhile.
   */
  finish(): Promise<void> {
    if (this.ended) return Promise.resolve();
    if (this.corked) this.uncork();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end(() => resolve());
    });
  }

  /** Ends the channel; with an error, as a cut-off. */
  close(error: Error | null = null): void {
    if (error) this.socket.destroy();
    else this.socket.end();
    this.end(error);
  }

  private receive(chunk: Buffer): void {
    if (this.ended) return;
    try {
      for (const frame of this.decoder.push(chunk)) {
        if (this.ended) return;
        this.handlers.frame(frame);
      }
    } catch (err) {
      this.close(err instanceof ChannelError ? err : new ChannelError(`handling a frame failed: ${(err as Error).message}`));
    }
  }

  private end(error: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.socket.destroyed) this.socket.destroy();
    this.handlers.close(error);
  }
}
