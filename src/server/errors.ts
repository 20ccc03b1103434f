/**
 * The registry of error codes (PROTOCOL.md). Every error a client can see has one of these codes;
 * a test keeps this table, docs/PROTOCOL.md and the code in step.
 */
export const ERRORS = {
  INVALID_PARAM: { status: 400, doc: 'a parameter is out of range, of the wrong type or unknown' },
  BAD_REQUEST: {
    status: 400,
    doc: 'the request is malformed (bad JSON, a bad URL or query, a bad id)',
  },
  BAD_MESSAGE: {
    status: 400,
    doc: 'a WebSocket message is not valid JSON, has an unknown type or lacks fields',
  },
  UNAUTHORIZED: { status: 401, doc: 'a control token is configured and none was given' },
  FORBIDDEN: {
    status: 403,
    doc: 'wrong control token, a personal session not owned or asked for over HLS, the default station deleted, a cross-site change, or a path outside the player',
  },
  UNKNOWN_STATION: { status: 404, doc: 'no station has this id' },
  NOT_FOUND: { status: 404, doc: 'no such route' },
  REQUEST_TIMEOUT: { status: 408, doc: 'the request head or body did not arrive in time' },
  STATION_EXISTS: { status: 409, doc: 'a station with this id exists' },
  BODY_TOO_LARGE: { status: 413, doc: 'the request body is over the limit' },
  URI_TOO_LONG: { status: 414, doc: 'the URL or a path parameter is over the limit' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    doc: 'a request that changes something is not `Content-Type: application/json`',
  },
  RANGE_NOT_SATISFIABLE: { status: 416, doc: 'a Range header asks for bytes outside the file' },
  RATE_LIMITED: { status: 429, doc: 'too many requests or control messages' },
  TOO_MANY_CONNECTIONS: { status: 429, doc: 'this client address has too many open connections' },
  WRONG_ROLE: {
    status: 421,
    doc: "this node's cluster role does not do this (an origin serves no listeners and no station API: ask an edge)",
  },
  HEADERS_TOO_LARGE: { status: 431, doc: 'the request line and headers are over the limit' },
  SERVER_FULL: { status: 503, doc: 'too many listeners or stations' },
  NOT_READY: {
    status: 503,
    doc: 'not ready to serve this (e.g. an HTTP stream under the baseline profile; a WebSocket message past the bound held before the `welcome`)',
  },
  INTERNAL: { status: 500, doc: 'an unexpected server error' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly field: string | undefined;
  constructor(code: ErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.field = field;
  }

  toJSON(): { error: { code: ErrorCode; message: string; field?: string } } {
    return {
      error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) },
    };
  }
}

/** WebSocket close codes (PROTOCOL.md "Close codes"). */
export const CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL: 1011,
  TRY_AGAIN_LATER: 1013,
  UNKNOWN_STATION: 4404,
} as const;
