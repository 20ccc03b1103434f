// Schedules and sleep timers under the cluster roles (docs/ARCHITECTURE.md, "Origins and edges"):
// one real redis-server, two origins (A owns the default station, B stands by) and two edges, each
// a real `auralis serve` process. A schedule set through one edge is stored in Redis: every edge
// shows it, the owning origin alone runs it (an entry fires once in the cluster, heard on both
// edges), and after `kill -9` of the owner the standby fires the next entry. A personal session's
// sleep timer outlives `kill -9` of its edge: the edge that takes the session back runs it on.
//
// Entries are minutes of the day, so the second one fires at the next minute boundary at least 15 s
// after the schedule is set: this file takes about 30–90 s (setup, then the wait for that boundary).
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS } from '../../src/music/presets.ts';
import type { AuralisServer } from '../../src/server/server.ts';
import { connect, json, type Client } from '../server/helpers.ts';
import { TestCluster, waitFor, type ClusterNode } from './processes.ts';

const SESSION_SECRET = `session-${randomBytes(12).toString('hex')}`;
const cluster = new TestCluster(['--session-secret', SESSION_SECRET]);
const clients: Client[] = [];
let originA: ClusterNode;
let originB: ClusterNode;
let edge1: ClusterNode;
let edge2: ClusterNode;

const asServer = (p: { url: string }): AuralisServer => ({ url: p.url }) as AuralisServer;
/** `HH:MM` in UTC of Unix ms `t`. */
const hhmm = (t: number): string => new Date(t).toISOString().slice(11, 16);

/** auralis_control_changes_total{source="schedule",result="ok"} of a node (0 before the first). */
async function scheduledChanges(p: { url: string }): Promise<number> {
  const text = await (await fetch(`${p.url}/metrics`)).text();
  const m = /^auralis_control_changes_total\{source="schedule",result="ok"\} (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/** The `params` messages a listener got from the schedule. */
const fromSchedule = (c: Client): Record<string, unknown>[] =>
  c.texts.filter((t) => t.type === 'params' && t.source === 'schedule');
const presetOf = (m: Record<string, unknown>): unknown => (m.params as { preset: unknown }).preset;

before(async () => {
  ({ originA, originB, edge1, edge2 } = await cluster.start());
  for (const e of [edge1, edge2]) clients.push(await connect(asServer(e), 'codec=opus'));
  await Promise.all(clients.map((c) => c.waitChunks(3, 15_000)));
});

after(async () => {
  for (const c of clients) c.ws.terminate();
  await cluster.close();
});

// Set by the second test, used by the third.
let playing = '';
let nextPreset = '';
let nextAtMs = 0;
let firstAt = '';
let countB = 0;

test('an origin refuses the schedule API with WRONG_ROLE, naming the edge as the way', async () => {
  const r = await json(asServer(originA), 'PUT', '/api/stations/default/schedule', {
    timeZone: 'UTC',
    entries: [{ at: '07:00', preset: 'focus' }],
  });
  assert.equal(r.status, 421, JSON.stringify(r.body));
  const err = r.body!.error as { code: string; message: string };
  assert.equal(err.code, 'WRONG_ROLE');
  assert.match(err.message, /schedule.*through an edge/);
  assert.equal((await json(asServer(originA), 'DELETE', '/api/stations/default/schedule')).status, 421);
});

test('a schedule PUT on one edge is shown by the other and fired once, by the owning origin', async () => {
  const now = Date.now();
  const minute = Math.floor(now / 60_000) * 60_000;
  // The entry in force now, and one at the next minute boundary at least 15 s away (this test
  // takes about 3 s; the next entry must come after it, and after the kill in the next one).
  nextAtMs = minute + 60_000 < now + 15_000 ? minute + 120_000 : minute + 60_000;
  firstAt = hhmm(minute);
  const current = (await json(asServer(edge2), 'GET', '/api/stations/default')).body!.params as {
    preset: string | null;
  };
  const names = PRESETS.filter((p) => !p.sampled).map((p) => p.name);
  playing = names.find((n) => n !== current.preset)!;
  nextPreset = names.find((n) => n !== current.preset && n !== playing)!;
  const [a0, b0] = await Promise.all([scheduledChanges(originA), scheduledChanges(originB)]);
  countB = b0;

  const put = await json(asServer(edge1), 'PUT', '/api/stations/default/schedule', {
    timeZone: 'UTC',
    glideMinutes: 0,
    entries: [
      { at: firstAt, preset: playing },
      { at: hhmm(nextAtMs), preset: nextPreset },
    ],
  });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.equal((put.body!.next as { localTime: string }).localTime, hhmm(nextAtMs));

  // The entry in force is reached at once, through the owner, and heard on both edges.
  await waitFor(
    'both edges announce the scheduled change',
    () => clients.every((c) => fromSchedule(c).some((m) => presetOf(m) === playing)),
    10_000,
  );
  // The other edge shows the schedule and its next change (no node but the owner runs it).
  await waitFor(
    'edge 2 shows the schedule',
    async () => {
      const st = (await json(asServer(edge2), 'GET', '/api/stations/default')).body!;
      const s = st.schedule as { next: { localTime: string; preset: string } } | null;
      return s?.next.localTime === hhmm(nextAtMs) && s.next.preset === nextPreset;
    },
    5000,
  );
  // Long enough for a second firing by any other node to show.
  await new Promise((r) => setTimeout(r, 2500));
  assert.ok(Date.now() < nextAtMs - 1000, 'precondition: the next entry has not come yet (a slow machine)');
  assert.equal((await scheduledChanges(originA)) - a0, 1, 'the owner applied the entry once');
  assert.equal((await scheduledChanges(originB)) - b0, 0, 'the standby applied nothing');
  for (const c of clients) assert.equal(fromSchedule(c).length, 1, JSON.stringify(fromSchedule(c)));
  const shown = (await json(asServer(edge2), 'GET', '/api/stations/default')).body!;
  assert.equal((shown.params as { preset: string }).preset, playing);
});

test('kill -9 of the owning origin: the standby continues the schedule and fires the next entry', async () => {
  assert.ok(nextAtMs > 0, 'precondition: the schedule of the test before is set');
  await originA.kill();
  await waitFor(
    'the standby runs the schedule',
    () =>
      originB.out().includes('origin took station default over') &&
      originB.out().includes('origin runs the schedule of default'),
    8000,
  );
  // Taken over, it does not play the entry in force again (the dead owner had reached it)...
  if (Date.now() < nextAtMs - 1500) {
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await scheduledChanges(originB)) - countB, 0, 'the standby repeated the entry in force');
  }
  // ...and fires the next one when it comes, heard on both edges.
  await waitFor(
    'both edges announce the next entry',
    () => clients.every((c) => fromSchedule(c).some((m) => presetOf(m) === nextPreset)),
    nextAtMs - Date.now() + 15_000,
  );
  assert.ok(Date.now() >= nextAtMs - 1000, 'not before its time');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await scheduledChanges(originB)) - countB, 1, 'the standby applied the next entry once');
  for (const c of clients) {
    assert.equal(fromSchedule(c).length, 2, JSON.stringify(fromSchedule(c)));
    assert.equal(c.ws.readyState, c.ws.OPEN, 'the listener stayed connected');
  }
  const st = (await json(asServer(edge1), 'GET', '/api/stations/default')).body!;
  assert.equal((st.params as { preset: string }).preset, nextPreset);
  assert.equal((st.schedule as { next: { localTime: string } }).next.localTime, firstAt);
});

test('a sleep timer outlives kill -9 of its edge: the edge that takes the session back runs it on', async () => {
  const owner = await connect(asServer(edge1), 'personal=1&codec=opus');
  clients.push(owner);
  const welcome = await owner.next('welcome', 15_000);
  const id = welcome.station as string;
  await owner.waitChunks(3, 15_000);
  // One minute: shorter than the ending, which starts at once (a change through the origin).
  owner.send({ type: 'sleep', minutes: 1 });
  const set = await owner.next('sleep', 10_000);
  assert.equal(set.minutes, 1);
  const ending = await owner.next('params', 10_000);
  assert.equal(ending.source, 'listener', 'the ending started');
  const token = ending.resumeToken as string;
  assert.ok(token, 'the owner got a token that carries the ending');
  await edge1.kill();

  // The page's reconnect, through the other edge, with its newest token.
  const back = await connect(asServer(edge2), `personal=1&codec=opus&resume=${encodeURIComponent(token)}`);
  clients.push(back);
  assert.equal((await back.next('welcome', 15_000)).station, id, 'the same session');
  await back.waitChunks(3, 15_000);
  await waitFor(
    'edge 2 runs the timer on',
    () => edge2.out().includes('a sleep timer kept by the cluster runs on here'),
    5000,
  );
  // It knows the ending plays: a cancel takes it back (without the timer the music stayed silent).
  back.send({ type: 'sleep', minutes: 0 });
  const cancelled = await back.next('sleep', 10_000);
  assert.equal(cancelled.endsAtMs, null);
  const undone = await back.next('params', 10_000);
  assert.equal(undone.source, 'listener', 'the ending was taken back');
});
