/**
 * One listener for tests that drive the pacer directly, without a server: the pacer's bookkeeping
 * fields start as a new listener's do (sequence 0, nothing skipped or sent, not closed), over a
 * socket the test fakes. `extra` overrides any field and adds the test's own (counters, logs).
 * Unless overridden, a kick fails the test: most tests assert the listener is never dropped.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { ListenerFlow, type Listener } from '../../src/server/broadcast/listener.ts';

export function fakeListener<T extends object = object>(
  socket: object,
  extra: T & Partial<Omit<Listener, 'socket'>> = {} as T,
): Listener & T {
  return {
    transport: 'ws',
    codec: 'opus',
    flow: new ListenerFlow(),
    nextSeq: 0,
    discontinuity: false,
    overSinceMs: 0,
    skipped: 0,
    sent: 0,
    closed: false,
    kick: () => assert.fail('not kicked'),
    ...extra,
    socket: socket as Socket,
  } as Listener & T;
}
