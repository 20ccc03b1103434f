import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./fixtures/lifecycle-child.ts', import.meta.url));
// tsx start-up on a busy 2-core machine takes a few seconds; a process held open by a timer would run forever.
const EXIT_BOUND_MS = 20_000;

interface ChildReport {
  startedIntervals: number;
  liveIntervals: number;
  running: number;
}

function runChild(
  args: string[],
): Promise<{ code: number | null; report: ChildReport; exitedInTime: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    let exitedInTime = true;
    const timer = setTimeout(() => {
      exitedInTime = false;
      child.kill('SIGKILL');
    }, EXIT_BOUND_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        resolve({ code, report: JSON.parse(out.trim()) as ChildReport, exitedInTime });
      } catch {
        reject(new Error(`child gave no report (code ${code}): ${out}\n${err}`));
      }
    });
  });
}

test('after stop(), no timer or observer of the metrics components is left and the process exits by itself', async () => {
  const { code, report, exitedInTime } = await runChild(['--stop']);
  assert.ok(report.startedIntervals >= 2, `the components started ${report.startedIntervals} intervals`);
  assert.equal(report.liveIntervals, 0, 'intervals left after stop()');
  assert.equal(report.running, 0);
  assert.equal(exitedInTime, true, 'process did not exit by itself');
  assert.equal(code, 0);
});

test('running components never keep the process alive (their timers are unref-ed)', async () => {
  const { code, report, exitedInTime } = await runChild([]);
  assert.ok(report.liveIntervals >= 2, 'the components should still be running in this case');
  assert.equal(report.running, 4);
  assert.equal(exitedInTime, true, 'a running component held the process open');
  assert.equal(code, 0);
});
