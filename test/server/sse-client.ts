import http from 'node:http';
import type { AuralisServer } from '../../src/server/server.ts';

export interface SseEvent {
  event: string;
  data: string;
  retry?: number;
  /** Date.now() when it arrived. */
  atMs: number;
}

export interface SseClient {
  status: number;
  headers: http.IncomingHttpHeaders;
  events: SseEvent[];
  /** Comment lines (`: …`), with their arrival time. */
  comments: { text: string; atMs: number }[];
  /** Resolves when the server ends or closes the stream. */
  ended: Promise<void>;
  isEnded(): boolean;
  /** Resolves with the first event (already received or future) that `pred` accepts. */
  next(pred: (e: SseEvent) => boolean, timeoutMs: number, what: string): Promise<SseEvent>;
  /** Resolves once `n` comments have arrived. */
  waitComments(n: number, timeoutMs: number): Promise<void>;
  destroy(): void;
}

/**
 * Opens an event stream (`Accept: text/event-stream`, no keep-alive agent) and parses it as
 * EventSource does: fields up to a blank line make an event; `:` lines are comments.
 */
export function openSse(server: AuralisServer, path: string): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      `${server.url}${path}`,
      { agent: false, headers: { accept: 'text/event-stream' } },
      (res) => {
        const events: SseEvent[] = [];
        const comments: { text: string; atMs: number }[] = [];
        const waiters: (() => void)[] = [];
        const wake = (): void => {
          for (const w of waiters.splice(0)) w();
        };
        let ended = false;
        const endedP = new Promise<void>((r) => {
          const done = (): void => {
            ended = true;
            wake();
            r();
          };
          res.on('end', done);
          res.on('close', done);
          res.on('error', done);
        });
        let buf = '';
        let cur: { event: string; data: string[]; retry?: number } = { event: 'message', data: [] };
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line === '') {
              if (cur.data.length > 0)
                events.push({
                  event: cur.event,
                  data: cur.data.join('\n'),
                  retry: cur.retry,
                  atMs: Date.now(),
                });
              cur = { event: 'message', data: [] };
            } else if (line.startsWith(':')) {
              comments.push({ text: line.slice(1).trim(), atMs: Date.now() });
            } else {
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (field === 'event') cur.event = value;
              else if (field === 'data') cur.data.push(value);
              else if (field === 'retry') cur.retry = Number(value);
            }
          }
          wake();
        });
        const until = (check: () => boolean, timeoutMs: number, what: string): Promise<void> =>
          new Promise((ok, fail) => {
            const timer = setTimeout(() => fail(new Error(`timed out waiting for ${what}`)), timeoutMs);
            const test = (): void => {
              if (check()) {
                clearTimeout(timer);
                ok();
              } else if (ended) {
                clearTimeout(timer);
                fail(new Error(`the stream ended before ${what}`));
              } else waiters.push(test);
            };
            test();
          });
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          events,
          comments,
          ended: endedP,
          isEnded: () => ended,
          next: async (pred, timeoutMs, what) => {
            let found: SseEvent | undefined;
            await until(() => (found = events.find(pred)) !== undefined, timeoutMs, what);
            return found!;
          },
          waitComments: (n, timeoutMs) => until(() => comments.length >= n, timeoutMs, `${n} comments`),
          destroy: () => req.destroy(),
        });
      },
    );
    req.on('error', reject);
  });
}
