// Runs a shortened quick report into a temporary folder and checks that it is complete and
// consistent: every seed table filled with numbers, improvements as printed, the JSON matching the
// markdown. Timings are not asserted (CI machines vary); the run takes about 2 minutes on 2 cores.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BenchResults } from '../../bench/lib/results.ts';
import { fmt } from '../../bench/lib/stats.ts';
import { buildTables, valueAt } from '../../bench/lib/tables.ts';

const SHORT = [
  '--quick',
  '--stream-seconds',
  '10',
  '--warmup-seconds',
  '2',
  '--soak-audio-seconds',
  '300',
  '--listener-counts',
  '1,20',
  '--listener-seconds',
  '3',
  '--semi-seconds',
  '3',
  '--semi-listeners',
  '20',
  // The default and one other young-generation size (the full report compares three).
  '--semi-sizes',
  '0,16',
  '--synth-seconds',
  '10',
  '--render-seconds',
  '10',
  // The idle-station stage has fixed settle times (about 25 s); the full report runs it.
  '--idle-seconds',
  '0',
  '--ten-listener-seconds',
  '4',
];

/** The rows of the markdown table that follows `heading` (cells trimmed, header and rule dropped). */
function tableAfter(md: string, heading: string): string[][] {
  const at = md.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `missing heading ${heading}`);
  const lines = md.slice(at + heading.length + 2).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (let i = start; i < lines.length && lines[i]!.startsWith('|'); i++) {
    rows.push(
      lines[i]!.slice(1, -1)
        .split(' | ')
        .map((c) => c.trim()),
    );
  }
  return rows.slice(2);
}

const NUMBER = /^(-?\d+(?:\.\d+)?)(?:%| ms| MB| MB\/hr|×)?$/;

function numberIn(cell: string): number {
  const m = NUMBER.exec(cell);
  assert.ok(m, `not a number with a unit: "${cell}"`);
  return Number(m[1]);
}

describe('npm run bench:quick (shortened)', { timeout: 240_000 }, () => {
  let dir = '';
  let md = '';
  let json: BenchResults;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'auralis-bench-'));
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'bench/report.ts', ...SHORT, '--out', dir], {
      encoding: 'utf8',
      timeout: 230_000,
    });
    assert.equal(res.status, 0, `report failed:\n${res.stderr}`);
    md = readFileSync(join(dir, 'baseline-comparison.md'), 'utf8');
    json = JSON.parse(readFileSync(join(dir, 'baseline-comparison.json'), 'utf8')) as BenchResults;
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has every section of the seed and no TBD', () => {
    assert.doesNotMatch(md, /TBD/);
    for (const h of [
      '## Measurement Methodology',
      '## Success Criteria Targets',
      '### Synthesis Latency',
      '### CPU Utilization',
      '### Memory Usage',
      '### GPU Memory (CUDA/Metal)',
      '### Garbage Collection',
      '## Optimization Techniques Applied',
      '## Running the Benchmarks',
      '## Listener scale (optimized profile)',
      '## Synthesis speed per preset',
      '## The reference prototype and Auralis',
    ]) {
      assert.ok(md.includes(`\n${h}\n`), `missing section ${h}`);
    }
    assert.match(md, /\*\*Machine\*\*: .+, \d+ cores, .*Node\.js v\d+/);
    assert.match(md, /\*\*Command\*\*: `node --import tsx bench\/report\.ts --quick/);
    assert.match(md, /\*\*Run length\*\*: 10 s of streaming per profile/);
  });

  it('fills every comparison table with numbers and improvements computed as printed', () => {
    for (const t of buildTables(json)) {
      const rows = tableAfter(md, `### ${t.title}`);
      assert.equal(rows.length, t.rows.length, `${t.title}: row count`);
      for (const [label, base, opt, imp] of rows) {
        if (t.id === 'gpu') {
          assert.match(
            base!,
            /^not applicable: no GPU backend \(CPU DSP, measured \d+× real time per core\)$/,
          );
          assert.equal(base, opt);
          continue;
        }
        if (label === '**Memory leaked?**') {
          assert.match(`${base} ${opt}`, /^(yes|no) (yes|no)$/);
          continue;
        }
        const b = numberIn(base!);
        const o = numberIn(opt!);
        const m = /^(-?\d+\.\d)%$/.exec(imp!);
        if (b === 0) {
          assert.equal(imp, o === 0 ? '0.0%' : 'n/a (baseline 0)', `${t.title} ${label}`);
        } else if (b < 0) {
          assert.equal(imp, 'n/a (baseline < 0)', `${t.title} ${label}`);
        } else {
          assert.ok(m, `${t.title} ${label}: improvement "${imp}"`);
          assert.ok(
            Math.abs(Number(m[1]) - ((b - o) / b) * 100) <= 0.051,
            `${t.title} ${label}: ${imp} ≠ (${b} − ${o}) / ${b}`,
          );
        }
      }
    }
  });

  it('prints the numbers of the JSON beside it', () => {
    for (const t of buildTables(json)) {
      const rows = tableAfter(md, `### ${t.title}`);
      t.rows.forEach((row, i) => {
        for (const [src, cell] of [
          [row.baselineSource, rows[i]![1]!],
          [row.optimizedSource, rows[i]![2]!],
        ] as const) {
          if (!src) continue;
          const v = valueAt(json, src.path) * src.scale;
          assert.ok(Number.isFinite(v), `${src.path} is not a number in the JSON`);
          assert.equal(numberIn(cell), Number(fmt(v, src.decimals)), `${t.title} ${row.label}: ${src.path}`);
        }
      });
    }
  });

  it('states the success criteria from the measured values', () => {
    const rows = tableAfter(md, '## Success Criteria Targets');
    assert.deepEqual(
      rows.map((r) => r[0]!.slice(0, 10)),
      ['**SC-001**', '**SC-003**', '**SC-004**', '**SC-007**', '**SC-008**', 'Synthesis '],
    );
    const def = json.synthesis!.rows.find((x) => x.station === 'default')!;
    assert.ok(rows[5]![4]!.startsWith(`${fmt(def.realTimeFactor, 0)}× (bench:synth)`), rows[5]![4]);
    const sc001 = rows[0]!;
    assert.ok(sc001[3]!.startsWith(`${fmt(json.stream.baseline.lateness.within50MsPercent, 2)}%`));
    assert.ok(sc001[4]!.startsWith(`${fmt(json.stream.optimized.lateness.within50MsPercent, 2)}%`));
    assert.match(rows[3]![5]!, /Not applicable/);
    for (const r of rows) assert.match(r[5]!, /Met|[Nn]ot met|Not applicable/);
  });

  it('keeps the raw results: both profiles, the soak, the young-generation runs and the listener scale', () => {
    assert.equal(json.settings.mode, 'quick');
    assert.equal(json.stream.baseline.profile, 'baseline');
    assert.equal(json.stream.optimized.profile, 'optimized');
    assert.ok(json.stream.baseline.chunksMeasured > 0 && json.stream.optimized.chunksMeasured > 0);
    assert.equal(json.soak.baseline.audioSeconds, 300);
    assert.deepEqual(
      json.semiSpace.rows.map((r) => r.semiSpaceMb),
      [0, 16],
    );
    assert.deepEqual(
      json.listenerScale.rows.map((r) => r.listeners),
      [1, 20],
    );
    assert.match(json.machine.node, /^v\d+/);
    // Synthesis per preset and the whole-process render ran and were printed; the idle stage was off.
    assert.ok(json.synthesis!.rows.length >= 5, 'default station and every preset');
    for (const row of json.synthesis!.rows) assert.ok(row.realTimeFactor > 1, `${row.station}`);
    const synthRows = tableAfter(md, '## Synthesis speed per preset');
    assert.deepEqual(
      synthRows.map((r) => [r[0], r[1]]),
      json.synthesis!.rows.map((x) => [x.station, `${fmt(x.realTimeFactor, 0)}×`]),
    );
    assert.equal(json.render!.audioSeconds, 10);
    assert.ok(json.render!.cpuSeconds > 0 && json.render!.cpuRealTimeFactor > 1);
    assert.equal(json.idle, undefined);
    assert.equal(json.tenListeners!.baseline.listeners, 10);
    assert.ok(json.tenListeners!.optimized.chunksMeasured > 0, 'ten listeners received audio');
    assert.match(md, /With ten listeners on the same station .*optimized ÷ baseline = \d/);
    assert.ok(!md.includes('## Idle stations'));
    assert.equal(json.streamsConcurrent, json.stream.baseline.pinned);
  });
});
