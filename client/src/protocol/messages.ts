/**
 * The JSON messages of the WebSocket (PROTOCOL.md), as the player sees them, with a tolerant
 * parser: an unknown or malformed message is reported, never thrown.
 */
export interface StationParams {
  key: string;
  mode: string;
  bpm: number;
  intensity: number;
  preset?: string | null;
  seed?: number;
}

export interface WelcomeMessage {
  type: 'welcome';
  protocol: number;
  station: string;
  personal: boolean;
  params: StationParams;
  seed?: number;
  sampleRate: number;
  channels: number;
  codec: 'opus' | 'pcm';
  chunkMs: number;
  position: number;
  resumeToken?: string;
}

export interface ParamsMessage {
  type: 'params';
  params: StationParams;
  effectiveAt?: number;
  source?: string;
}

export interface NowMessage {
  type: 'now';
  position: number;
  chord: string;
  key: string;
  mode: string;
  section: string;
  /** Added fields (older servers leave them out): the station, its preset, the next change. */
  station?: string;
  personal?: boolean;
  preset?: string | null;
  at?: number;
  next?: { position: number; at: number; kind: 'scheduled' | 'forecast'; chord: string | null } | null;
}

export interface PongMessage {
  type: 'pong';
  t: number;
  serverTime?: number;
}

export interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
  field?: string;
}

export type ServerMessage = WelcomeMessage | ParamsMessage | NowMessage | PongMessage | ErrorMessage;

export type ParamsPatch = Partial<Pick<StationParams, 'key' | 'mode' | 'bpm' | 'intensity'>>;

export type ClientMessage =
  | { type: 'set'; params: ParamsPatch }
  | { type: 'preset'; name: string }
  | { type: 'ping'; t: number }
  | { type: 'stats'; bufferedMs: number; underruns: number; playedFrames: number };

/**
 * The data of a `now` event of the now-playing event stream (`GET /api/stations/:id/now`, SSE): the
 * same object as the WebSocket `now` message, without `type`. Null when malformed or when the
 * station has not announced a chord yet.
 */
export function parseNowEvent(data: string): NowMessage | null {
  let msg: unknown;
  try {
    msg = JSON.parse(data);
  } catch {
    return null;
  }
  if (!isObject(msg) || typeof msg.chord !== 'string' || typeof msg.key !== 'string') return null;
  return { ...(msg as unknown as Omit<NowMessage, 'type'>), type: 'now' };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

export function parseServerMessage(text: string): ServerMessage | null {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(msg) || typeof msg.type !== 'string') return null;
  switch (msg.type) {
    case 'welcome':
      return isObject(msg.params) && typeof msg.sampleRate === 'number'
        ? (msg as unknown as WelcomeMessage)
        : null;
    case 'params':
      return isObject(msg.params) ? (msg as unknown as ParamsMessage) : null;
    case 'now':
      return typeof msg.chord === 'string' ? (msg as unknown as NowMessage) : null;
    case 'pong':
      return typeof msg.t === 'number' ? (msg as unknown as PongMessage) : null;
    case 'error':
      return typeof msg.message === 'string' ? (msg as unknown as ErrorMessage) : null;
    default:
      return null;
  }
}
