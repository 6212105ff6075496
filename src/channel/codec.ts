// The frame codec of the supervisor ↔ app-service channel (DESIGN.md): pure,
// bytes in and frames out, so it can be tested and fuzzed without processes.
//
//   u32 length (of what follows) | u8 kind | u32 stream | payload
//
// Stream 0 carries control frames (JSON); every HTTP request and WebSocket
// connection has a stream of its own, numbered by the supervisor.
import { ApError } from '../errors';

export const Kind = {
  /** stream 0; JSON object: hello, ready, instance.start/stop/config, log, ping/pong. */
  CONTROL: 0x01,
  /** Receiver → sender: stop sending data on this stream. Empty. */
  PAUSE: 0x02,
  /** Receiver → sender: data on this stream may flow again. Empty. */
  RESUME: 0x03,
  /** Either way: the stream is gone (client aborted, service gave up). Optional UTF-8 reason. */
  ABORT: 0x04,
  /** Supervisor → service: request head, JSON {method, url, query, headers, instance, remote}. */
  HTTP_HEAD: 0x10,
  /** Supervisor → service: a chunk of the request body. */
  HTTP_BODY: 0x11,
  /** Supervisor → service: the request body is complete. Empty. */
  HTTP_END: 0x12,
  /** Service → supervisor: response head, JSON {status, headers}. */
  HTTP_RESPONSE: 0x18,
  /** Service → supervisor: a chunk of the response body. */
  HTTP_RESPONSE_BODY: 0x19,
  /** Service → supervisor: the response is complete. Empty. */
  HTTP_RESPONSE_END: 0x1a,
  /** Supervisor → service: a WebSocket connection opened, JSON {url, query, headers, instance, remote, …}. */
  WS_OPEN: 0x20,
  /** Either way: a text message (UTF-8). */
  WS_TEXT: 0x21,
  /** Either way: a binary message. */
  WS_BINARY: 0x22,
  /** Either way: the connection closes; u16 code then a UTF-8 reason, or empty. */
  WS_CLOSE: 0x23,
} as const;

export type Kind = (typeof Kind)[keyof typeof Kind];

const KNOWN = new Set<number>(Object.values(Kind));
const EMPTY_ONLY = new Set<number>([Kind.PAUSE, Kind.RESUME, Kind.HTTP_END, Kind.HTTP_RESPONSE_END]);

export interface Frame {
  readonly kind: Kind;
  readonly stream: number;
  readonly payload: Buffer;
}

/** Bytes before the payload: length (4), kind (1), stream (4). */
export const HEADER_SIZE = 9;
/** Largest payload a decoder accepts unless told otherwise. */
export const DEFAULT_MAX_PAYLOAD = 64 * 1024 * 1024;
/**
 * The least the supervisor takes from a service in one frame (its limit is
 * this or the WebSocket message limit, whichever is larger): a body larger
 * than that leaves in pieces.
 */
export const MIN_MAX_PAYLOAD = 1024 * 1024;

/** The channel broke its contract; the peer is cut off. */
export class ChannelError extends ApError {
  constructor(message: string) {
    super('CHANNEL_MALFORMED', message);
    this.name = 'ChannelError';
  }
}

/** One frame as bytes. */
export function encodeFrame(kind: Kind, stream: number, payload: Uint8Array | string = EMPTY): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const frame = Buffer.allocUnsafe(HEADER_SIZE + body.length);
  frame.writeUInt32BE(5 + body.length, 0);
  frame.writeUInt8(kind, 4);
  frame.writeUInt32BE(stream, 5);
  frame.set(body, HEADER_SIZE);
  return frame;
}

/** The header alone, for writing a large payload without copying it (writev). */
export function encodeHeader(kind: Kind, stream: number, payloadLength: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_SIZE);
  header.writeUInt32BE(5 + payloadLength, 0);
  header.writeUInt8(kind, 4);
  header.writeUInt32BE(stream, 5);
  return header;
}

/** A CONTROL frame holding `message` as JSON. */
export function encodeControl(message: Record<string, unknown>): Buffer {
  return encodeFrame(Kind.CONTROL, 0, JSON.stringify(message));
}

/** `reason` as UTF-8 of at most 123 bytes, what a close frame holds beside its code: cut between characters. */
export function closeReason(reason: string): Buffer {
  const bytes = Buffer.from(reason);
  if (bytes.length <= 123) return bytes;
  let end = 123;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // a continuation byte: back to its character's start
  return bytes.subarray(0, end);
}

/** WS_CLOSE payload: u16 code and a UTF-8 reason (cut to fit a close frame's 123 bytes). */
export function encodeClose(code: number, reason = ''): Buffer {
  const text = closeReason(reason);
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  payload.set(text, 2);
  return payload;
}

/** Reads a WS_CLOSE payload. */
export function decodeClose(payload: Buffer): { code: number; reason: string } {
  if (payload.length === 0) return { code: 1005, reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
}

/** Parses a JSON payload that must hold an object; ChannelError otherwise. */
export function decodeJson(frame: Frame): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(frame.payload.toString('utf8'));
  } catch {
    throw new ChannelError(`frame kind 0x${frame.kind.toString(16)} on stream ${frame.stream}: payload is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ChannelError(`frame kind 0x${frame.kind.toString(16)} on stream ${frame.stream}: payload must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * Turns a byte stream into frames. Chunks may split or join frames anywhere.
 * The first malformed frame throws a ChannelError, and the decoder stays broken.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private length = 0;
  private broken: ChannelError | null = null;

  constructor(private readonly maxPayload = DEFAULT_MAX_PAYLOAD) {}

  /** Bytes received but not yet part of a whole frame. */
  get buffered(): number {
    return this.length;
  }

  /** Feeds bytes; returns the frames they complete. */
  push(chunk: Buffer): Frame[] {
    if (this.broken) throw this.broken;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.length += chunk.length;
    }
    const frames: Frame[] = [];
    try {
      while (this.length >= HEADER_SIZE) {
        const header = this.peek(HEADER_SIZE);
        const size = header.readUInt32BE(0);
        const kind = header.readUInt8(4);
        const stream = header.readUInt32BE(5);
        this.check(size, kind, stream);
        if (this.length < 4 + size) break;
        const bytes = this.take(4 + size);
        const frame: Frame = { kind: kind as Kind, stream, payload: bytes.subarray(HEADER_SIZE) };
        if (EMPTY_ONLY.has(kind) && frame.payload.length > 0) this.fail(`frame kind 0x${kind.toString(16)} must be empty`);
        if (kind === Kind.WS_CLOSE && frame.payload.length === 1) this.fail('WS_CLOSE payload of 1 byte');
        frames.push(frame);
      }
    } catch (err) {
      if (err instanceof ChannelError) this.broken = err;
      throw err;
    }
    return frames;
  }

  private check(size: number, kind: number, stream: number): void {
    if (size < 5) this.fail(`frame length ${size} is shorter than its header`);
    if (size - 5 > this.maxPayload) this.fail(`frame payload of ${size - 5} bytes exceeds the limit of ${this.maxPayload}`);
    if (!KNOWN.has(kind)) this.fail(`unknown frame kind 0x${kind.toString(16)}`);
    if ((kind === Kind.CONTROL) !== (stream === 0)) {
      this.fail(kind === Kind.CONTROL ? `control frame on stream ${stream}` : `frame kind 0x${kind.toString(16)} on stream 0`);
    }
  }

  private fail(message: string): never {
    throw new ChannelError(message);
  }

  /** The first `n` bytes without consuming them (copies only when they span chunks). */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    return Buffer.concat(this.chunks, n);
  }

  /** Consumes `n` bytes. */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length === n) {
      this.chunks.shift();
      this.length -= n;
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.length -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const want = n - filled;
      if (chunk.length <= want) {
        out.set(chunk, filled);
        filled += chunk.length;
        this.chunks.shift();
      } else {
        out.set(chunk.subarray(0, want), filled);
        this.chunks[0] = chunk.subarray(want);
        filled += want;
      }
    }
    this.length -= n;
    return out;
  }
}

const EMPTY = Buffer.alloc(0);
