/**
 * The one error class of the codec layer. Thrown only outside the per-chunk audio path
 * (parsers, constructors, argument checks), never while encoding a chunk.
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
