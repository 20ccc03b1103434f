import { Backoff } from './backoff.ts';
import { parseServerMessage, type ClientMessage, type ServerMessage } from '../protocol/messages.ts';

/**
 * One logical connection to the server's `/ws`, kept alive across drops: reconnects with
 * jittered, capped backoff; gives up only where retrying cannot help (unknown station,
 * policy). A socket that goes quiet (no audio for LIVENESS_TIMEOUT_MS) is treated as dead:
 * a half-open TCP connection would otherwise leave the player silent forever.
 */
export const LIVENESS_TIMEOUT_MS = 4000;
/**
 * A connection that was streaming audio and was cut by the network (1006: a reset, a NAT
 * rebinding, a dead path) is retried after a random 0…QUICK_RETRY_MAX_MS instead of the backoff's
 * first delay, so the jitter buffer has a chance to bridge the gap. A server that went away
 * refuses that attempt, and the backoff takes over from there; a server shutdown (1001) or a full
 * server (1013) always gets the backoff.
 */
export const QUICK_RETRY_MAX_MS = 100;
export const CONNECT_TIMEOUT_MS = 6000;
/** PROTOCOL.md: client text messages are at most 4 KiB. */
export const MAX_CLIENT_MESSAGE_BYTES = 4096;
/** Close codes after which retrying the same request is pointless. */
const FATAL_CLOSE_CODES: ReadonlyMap<number, string> = new Map([
  [4404, 'unknown station'],
  [1008, 'refused by the server (policy)'],
]);

export type ConnectionState =
  | { kind: 'idle' }
  | { kind: 'connecting'; attempt: number }
  | { kind: 'open' }
  | { kind: 'waiting'; retryInMs: number; reason: string }
  | { kind: 'failed'; reason: string };

export interface ConnectionEvents {
  /** The URL for the next attempt (it may change, e.g. to carry a resume token). */
  url(): string;
  onState(state: ConnectionState): void;
  onMessage(msg: ServerMessage): void;
  onChunk(data: ArrayBuffer, arrivalMs: number): void;
  /** A text message that is not valid protocol (reported, not fatal). */
  onBadMessage?(text: string): void;
}

export class Connection {
  private socket: WebSocket | null = null;
  private stateValue: ConnectionState = { kind: 'idle' };
  private readonly backoff: Backoff;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private livenessTimer: ReturnType<typeof setTimeout> | null = null;
  private running = false;
  private attempt = 0;
  /** The current socket has delivered audio. */
  private streamed = false;

  constructor(
    private readonly events: ConnectionEvents,
    private readonly random: () => number,
  ) {
    this.backoff = new Backoff({ random });
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.backoff.reset();
    this.open();
  }

  /** Closes for good (the user paused or switched source). */
  stop(): void {
    this.running = false;
    this.clearTimers();
    this.dropSocket(1000);
    this.setState({ kind: 'idle' });
  }

  /** Closes the current socket and connects again at once (e.g. a new source). */
  restart(): void {
    this.stop();
    this.start();
  }

  send(msg: ClientMessage): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    const text = JSON.stringify(msg);
    if (text.length > MAX_CLIENT_MESSAGE_BYTES) return false;
    socket.send(text);
    return true;
  }

  private open(): void {
    this.attempt++;
    this.setState({ kind: 'connecting', attempt: this.attempt });
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.events.url());
    } catch (err) {
      this.setState({ kind: 'failed', reason: `cannot open the connection: ${String(err)}` });
      this.running = false;
      return;
    }
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    this.streamed = false;
    this.armLiveness(CONNECT_TIMEOUT_MS);
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.setState({ kind: 'open' });
      this.armLiveness(LIVENESS_TIMEOUT_MS);
    };
    socket.onmessage = (event: MessageEvent) => {
      if (this.socket !== socket) return;
      this.armLiveness(LIVENESS_TIMEOUT_MS);
      if (event.data instanceof ArrayBuffer) {
        // Audio flows: this connection works, so the next drop starts from the short delay.
        this.backoff.reset();
        this.attempt = 0;
        this.streamed = true;
        this.events.onChunk(event.data, performance.now());
        return;
      }
      const text = String(event.data);
      const msg = parseServerMessage(text);
      if (msg) this.events.onMessage(msg);
      else this.events.onBadMessage?.(text);
    };
    socket.onclose = (event: { code: number; reason: string }) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.onLost(event.code, event.reason);
    };
    socket.onerror = () => {
      // A close event always follows; nothing to do here.
    };
  }

  private onLost(code: number, reason: string): void {
    this.clearTimers();
    if (!this.running) return;
    const fatal = FATAL_CLOSE_CODES.get(code);
    if (fatal) {
      this.running = false;
      this.setState({ kind: 'failed', reason: reason || fatal });
      return;
    }
    const backoffMs = this.backoff.nextDelayMs() * (code === 1013 ? 2 : 1);
    const quick = code === 1006 && this.streamed;
    this.streamed = false;
    const delayMs = Math.round(quick ? this.random() * QUICK_RETRY_MAX_MS : backoffMs);
    this.setState({ kind: 'waiting', retryInMs: delayMs, reason: describeClose(code, reason) });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.running) this.open();
    }, delayMs);
  }

  private armLiveness(ms: number): void {
    if (this.livenessTimer) clearTimeout(this.livenessTimer);
    this.livenessTimer = setTimeout(() => {
      this.livenessTimer = null;
      if (!this.socket) return;
      this.dropSocket(4000);
      this.onLost(1006, 'no data from the server');
    }, ms);
  }

  private dropSocket(code: number): void {
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    try {
      socket.close(code);
    } catch {
      // Already closing.
    }
  }

  private clearTimers(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.livenessTimer) clearTimeout(this.livenessTimer);
    this.retryTimer = this.livenessTimer = null;
  }

  private setState(state: ConnectionState): void {
    this.stateValue = state;
    this.events.onState(state);
  }
}

function describeClose(code: number, reason: string): string {
  if (reason) return reason;
  switch (code) {
    case 1001:
      return 'server restarting';
    case 1013:
      return 'server full';
    case 1011:
      return 'server error';
    default:
      return 'connection lost';
  }
}
