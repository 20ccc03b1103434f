import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerConfig } from './config.ts';
import { ApiError } from './errors.ts';

/** Methods that change something: a browser page may send them cross-site, so they are guarded. */
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** At most this many characters of a client's value are quoted back in an error message. */
const MAX_QUOTED_CHARS = 64;

/** A client-supplied value for an error message: JSON-quoted, long values cut with an ellipsis. */
export function quote(value: string): string {
  if (value.length <= MAX_QUOTED_CHARS) return JSON.stringify(value);
  // Never keep the first half of a surrogate pair without its second.
  const high = value.charCodeAt(MAX_QUOTED_CHARS - 1);
  const end = high >= 0xd800 && high <= 0xdbff ? MAX_QUOTED_CHARS - 1 : MAX_QUOTED_CHARS;
  return JSON.stringify(`${value.slice(0, end)}…`);
}

function hostAndPort(url: URL): string {
  const port = url.port || (url.protocol === 'https:' || url.protocol === 'wss:' ? '443' : '80');
  return `${url.hostname}:${port}`;
}

/**
 * Whether an `Origin` header names the server itself: the origin's host and port equal the
 * request's `Host` (default ports filled in). `null` and unparsable origins are never same-origin.
 */
export function sameOrigin(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  try {
    const o = new URL(origin);
    if (o.protocol !== 'http:' && o.protocol !== 'https:') return false;
    return hostAndPort(o) === hostAndPort(new URL(`${o.protocol}//${host}`));
  } catch {
    return false;
  }
}

/**
 * Whether a request may change state given its `Origin`: no header (not a browser page, or a
 * same-origin navigation), the server's own origin, or one of the configured allowed origins.
 */
export function originMayChange(
  origin: string | undefined,
  host: string | undefined,
  config: ServerConfig,
): boolean {
  return origin === undefined || sameOrigin(origin, host) || config.allowedOrigins.includes(origin);
}

function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  return value.split(';')[0]!.trim().toLowerCase() === 'application/json';
}

/**
 * Refuses what a page on another site could make a browser send: a state-changing request that is
 * not `Content-Type: application/json` (an HTML form or a "simple" fetch cannot set that type
 * without a CORS preflight, which this server never grants) gets 415, and one whose `Origin` is
 * neither this server nor an allowed origin gets 403. An empty JSON body is allowed (`{}` implied).
 */
export function registerHttpGuards(app: FastifyInstance, config: ServerConfig): void {
  app.addHook('onRequest', async (req) => {
    if (!STATE_CHANGING.has(req.method)) return;
    const origin = req.headers.origin;
    if (!originMayChange(origin, req.headers.host, config)) {
      throw new ApiError(
        'FORBIDDEN',
        `changes from origin ${quote(origin ?? '')} are refused: not this server's origin and not in allowedOrigins`,
        'origin',
      );
    }
    const type = req.headers['content-type'];
    if (!isJsonContentType(type)) {
      throw new ApiError(
        'UNSUPPORTED_MEDIA_TYPE',
        `${req.method} needs Content-Type: application/json (also with an empty body), got ${
          type === undefined ? 'none' : quote(type)
        }`,
        'content-type',
      );
    }
  });

  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new ApiError('BAD_REQUEST', `the body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });
}

/**
 * Maps any error that reaches fastify's error handler to the error code a client sees. Client
 * faults keep their own 4xx status; `serverFault` is true only for what is the server's own fault.
 */
export function toApiError(
  err: FastifyError | ApiError | Error,
  config: ServerConfig,
): { error: ApiError; serverFault: boolean } {
  if (err instanceof ApiError) return { error: err, serverFault: err.code === 'INTERNAL' };
  const fe = err as FastifyError;
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  const client = (e: ApiError): { error: ApiError; serverFault: boolean } => ({
    error: e,
    serverFault: false,
  });
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return client(new ApiError('BODY_TOO_LARGE', `the body is over ${config.maxBodyBytes} bytes`));
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return client(
        new ApiError('UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json', 'content-type'),
      );
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return client(new ApiError('BAD_REQUEST', 'the body is not valid JSON'));
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return client(new ApiError('BAD_REQUEST', 'Content-Length does not match the body'));
    case 'FST_ERR_BAD_URL':
      return client(new ApiError('BAD_REQUEST', 'the URL is not valid (bad percent-encoding)', 'url'));
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return client(new ApiError('URI_TOO_LONG', 'a path parameter of the URL is too long', 'url'));
    case 'FST_ERR_VALIDATION': {
      const field = fe.validation?.[0]?.instancePath?.replace(/^\//, '').replaceAll('/', '.');
      return client(
        new ApiError('INVALID_PARAM', `the request is invalid: ${fe.message}`, field || undefined),
      );
    }
    default:
  }
  switch (status) {
    case 400:
      return client(new ApiError('BAD_REQUEST', 'the request is malformed'));
    case 403:
      return client(new ApiError('FORBIDDEN', 'this path may not be served'));
    case 404:
      return client(new ApiError('NOT_FOUND', 'no such file or route'));
    case 413:
      return client(new ApiError('BODY_TOO_LARGE', `the body is over ${config.maxBodyBytes} bytes`));
    case 414:
      return client(new ApiError('URI_TOO_LONG', 'the URL is too long', 'url'));
    case 415:
      return client(
        new ApiError('UNSUPPORTED_MEDIA_TYPE', 'this content type is not accepted', 'content-type'),
      );
    case 416:
      return client(new ApiError('RANGE_NOT_SATISFIABLE', 'the Range header is outside the file', 'range'));
    case 429:
      return client(new ApiError('RATE_LIMITED', 'too many requests; slow down'));
    default:
  }
  if (status >= 400 && status < 500)
    return client(new ApiError('BAD_REQUEST', `the request was refused (HTTP ${status})`));
  return { error: new ApiError('INTERNAL', 'internal error'), serverFault: true };
}

/** The error handler (and `frameworkErrors` handler): client faults at info, server faults at error. */
export function replyWithError(
  config: ServerConfig,
  err: FastifyError | Error,
  req: FastifyRequest,
  reply: FastifyReply,
): void {
  const { error, serverFault } = toApiError(err, config);
  if (serverFault) req.log.error({ err }, 'internal error');
  else req.log.info({ code: error.code, statusCode: error.status, field: error.field }, error.message);
  void reply.code(error.status).send(error.toJSON());
}
