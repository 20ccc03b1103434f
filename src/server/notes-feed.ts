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
  private readonly subscribers = new Map<string, Set<Socket>>();
  /** Frames skipped for subscribers whose socket was backed up. */
  skipped = 0;
  private readonly onNotes = (id: string, _seq: number, frame: Uint8Array): void => {
    const subs = this.subscribers.get(id);
    if (!subs) return;
    const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    for (const socket of subs) {
      if (socket.destroyed || !socket.writable) continue;
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

  subscribe(stationId: string, socket: Socket): void {
    let subs = this.subscribers.get(stationId);
    if (!subs) {
      subs = new Set();
      this.subscribers.set(stationId, subs);
      this.engine.setEvents?.(stationId, true);
    }
    subs.add(socket);
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
