/**
 * The one error class of the codec layer. Thrown outside the per-chunk audio path (parsers,
 * constructors, argument checks), and while encoding a chunk only for PACKET_TOO_LARGE (an Opus
 * packet that would not fit its ring region: never written; the engine rebuilds the encoder).
 */
export type CodecErrorCode =
  | 'SHORT_INPUT'
  | 'BAD_VERSION'
  | 'BAD_CODEC'
  | 'BAD_HEADER'
  | 'BAD_CAPTURE'
  | 'BAD_CRC'
  | 'BAD_LACING'
  | 'BAD_PAYLOAD'
  | 'BUFFER_TOO_SMALL'
  | 'PACKET_TOO_LARGE'
  | 'BAD_ARGUMENT'
  | 'NO_BACKEND';

export class CodecError extends Error {
  readonly code: CodecErrorCode;

  constructor(code: CodecErrorCode, message: string) {
    super(message);
    this.name = 'CodecError';
    this.code = code;
  }
}
