// The supervisor ↔ app-service channel (DESIGN.md): one Unix stream socket per
// service (the child's fd 3) carrying length-prefixed binary frames. The codec
// is pure; Channel adds a socket, backpressure and the rule that anything
// malformed ends the channel instead of throwing.
export {
  ChannelError,
  closeReason,
  decodeClose,
  decodeJson,
  DEFAULT_MAX_PAYLOAD,
  encodeClose,
  encodeControl,
  encodeFrame,
  encodeHeader,
  FrameDecoder,
  HEADER_SIZE,
  Kind,
  MIN_MAX_PAYLOAD,
  type Frame,
} from './codec';
export { Channel, type ChannelHandlers, type ChannelOptions } from './connection';
