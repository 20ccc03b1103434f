import type { Socket } from 'node:net';
import type { Engine } from '../engine/engine.ts';

/**
 * Bytes a subscriber's socket may already queue in user space for a `notes` frame to be written
 * to it; past it the frame is skipped for that subscriber (its audio is backed up anyway).
 */
export const NOTES_QUEUE_BYTES = 32 * 1024;

/**
 * The live score as data (`/ws?events=1`, PROTOCOL.md "The live score"): WebSocket listeners
 * subscribed to their station's notes. The engine worker turns each chunk's notes into one
 * WebSocket text frame while a station has subscribers (`Engine.setEvents`); the feed writes that
 * same frame to every subscriber's socket as soon as it arrives (the worker renders 400 ms ahead,
 * so the notes come before their audio). Per chunk: one frame, one write per subscriber, no
 * per-subscriber encoding.
 *
 * Lifecycle: owned by the server; `close()` drops the subscriptions and the engine listener.
 */
export class NotesFeed {
  private readonly engine: Engine;
  /** Per station: each subscriber's socket and whether its WebSocket is still open (no frame after a close frame). */
  private readonly subscribers = new Map<string, Map<Socket, () => boolean>>();
  /** Frames skipped for subscribers whose socket was backed up. */
  skipped = 0;
  private readonly onNotes = (id: string, _seq: number, frame: Uint8Array): void => {
    const subs = this.subscribers.get(id);
    if (!subs) return;
    const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    for (const [socket, open] of subs) {
      if (socket.destroyed || !socket.writable || !open()) continue;
      if (socket.writableLength > NOTES_QUEUE_BYTES) {
        this.skipped++;
        continue;
      }
      socket.write(bytes);
    }
  };

  constructor(engine: Engine) {
    this.engine = engine;
    engine.on('notes', this.onNotes);
  }

  /** Whether the engine can send notes (not under the baseline profile). */
  get available(): boolean {
    return this.engine.setEvents !== undefined;
  }

  /** `open`: false once the WebSocket is closing (its close frame may be written already). */
  subscribe(stationId: string, socket: Socket, open: () => boolean): void {
    let subs = this.subscribers.get(stationId);
    if (!subs) {
      subs = new Map();
      this.subscribers.set(stationId, subs);
      this.engine.setEvents?.(stationId, true);
    }
    subs.set(socket, open);
  }

  unsubscribe(stationId: string, socket: Socket): void {
    const subs = this.subscribers.get(stationId);
    if (!subs?.delete(socket) || subs.size > 0) return;
    this.subscribers.delete(stationId);
    this.engine.setEvents?.(stationId, false);
  }

  /** Subscribers of a station (tests, metrics). */
  count(stationId: string): number {
    return this.subscribers.get(stationId)?.size ?? 0;
  }

  close(): void {
    this.engine.off('notes', this.onNotes);
    this.subscribers.clear();
  }
}
