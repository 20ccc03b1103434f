import type { NotesMessage } from '../score/notes.ts';
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
  /**
   * True when a preset is set but its mode, bpm or intensity was changed since (the key is free);
   * absent from older servers.
   */
  modified?: boolean;
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
  /**
   * The Opus bitrate tiers (kb/s, ascending; a chunk header's tier bits index this list) and the one
   * this connection gets now. `[]` and null for PCM; absent from older servers (one stream).
   */
  tiers?: number[];
  bitrate?: number | null;
  chunkMs: number;
  position: number;
  resumeToken?: string;
  /**
   * To a personal session's owner: its sleep timer as it runs (`minutes` asked for, `endsAtMs`
   * when the music is over), or null; absent from older servers.
   */
  sleep?: { minutes: number; endsAtMs: number } | null;
}

/** The server switched this connection to `kbps`: chunk `fromSeq` is the first of that tier. */
export interface BitrateMessage {
  type: 'bitrate';
  kbps: number;
  fromSeq: number;
}

export interface ParamsMessage {
  type: 'params';
  params: StationParams;
  /** The station position (frames) where the change is heard. */
  effectiveAt?: number;
  /** The same instant as Unix ms (the chunk headers' clock). */
  effectiveAtMs?: number;
  source?: string;
  /** To a personal session's owner: a fresh resume token that carries this change. */
  resumeToken?: string;
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

/** A personal session's sleep timer: set (`minutes`, `endsAtMs`), or `ended` (the session is over). */
export interface SleepMessage {
  type: 'sleep';
  minutes?: number;
  endsAtMs?: number | null;
  ended?: boolean;
}

export type ServerMessage =
  | WelcomeMessage
  | ParamsMessage
  | NowMessage
  | PongMessage
  | ErrorMessage
  | BitrateMessage
  | NotesMessage
  | SleepMessage;

export type ParamsPatch = Partial<Pick<StationParams, 'key' | 'mode' | 'bpm' | 'intensity'>>;

export type ClientMessage =
  | { type: 'set'; params: ParamsPatch }
  | { type: 'preset'; name: string }
  | { type: 'ping'; t: number }
  /** Ask for another Opus tier (kb/s, one of welcome.tiers); answered with a BitrateMessage. */
  | { type: 'bitrate'; kbps: number }
  | { type: 'stats'; bufferedMs: number; underruns: number; playedFrames: number }
  /** A personal session's sleep timer (minutes; 0 cancels): the server ends the music itself. */
  | { type: 'sleep'; minutes: number };

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
    case 'welcome': {
      if (!isObject(msg.params) || typeof msg.sampleRate !== 'number') return null;
      // Tier fields are optional (older servers), but when present they must be well formed.
      const { tiers, bitrate } = msg;
      if (tiers !== undefined && !(Array.isArray(tiers) && tiers.every((k) => typeof k === 'number')))
        return null;
      if (bitrate !== undefined && bitrate !== null && typeof bitrate !== 'number') return null;
      return msg as unknown as WelcomeMessage;
    }
    case 'bitrate':
      return typeof msg.kbps === 'number' && typeof msg.fromSeq === 'number'
        ? (msg as unknown as BitrateMessage)
        : null;
    case 'params':
      return isObject(msg.params) ? (msg as unknown as ParamsMessage) : null;
    case 'now':
      return typeof msg.chord === 'string' ? (msg as unknown as NowMessage) : null;
    case 'pong':
      return typeof msg.t === 'number' ? (msg as unknown as PongMessage) : null;
    case 'notes':
      return Array.isArray(msg.events) && Array.isArray(msg.releases) && typeof msg.position === 'number'
        ? (msg as unknown as NotesMessage)
        : null;
    case 'error':
      return typeof msg.message === 'string' ? (msg as unknown as ErrorMessage) : null;
    case 'sleep':
      return msg.ended === true || typeof msg.minutes === 'number' ? (msg as unknown as SleepMessage) : null;
    default:
      return null;
  }
}
