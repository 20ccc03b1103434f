import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ArgError, parseArgs } from '../../src/cli/args.ts';
import {
  parseRenderArgs,
  renderToFiles,
  type AudioSource,
  type RenderOptions,
} from '../../src/cli/render.ts';
import { parseMidiFile } from '../../src/codec/midi-parse.ts';
import { floatToInt16 } from '../../src/codec/pcm16.ts';
import { parseWav } from '../../src/codec/wav.ts';
import { DEFAULT_PARAMS } from '../../src/music/params.ts';
import type { NoteEvent } from '../../src/music/types.ts';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'auralis-render-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A ramp source: sample n of the left channel is f(n), so every frame's place can be checked. */
const valueAt = (n: number): number => ((n % 2000) - 1000) / 1000;

class RampSource implements AudioSource {
  position = 0;
  blockSizes = new Set<number>();
  constructor(
    private readonly onEvent?: (e: NoteEvent) => void,
    private readonly failAtFrame = Infinity,
  ) {}
  render(l: Float32Array, r: Float32Array, count: number): void {
    if (this.position >= this.failAtFrame) throw new Error('synthetic failure');
    this.blockSizes.add(count);
    // One reused event object per block, as the composer does.
    const e: NoteEvent = {
      instrument: 'keys',
      startFrame: this.position,
      durationFrames: 2400,
      midi: 60,
      velocity: 0.5,
    };
    this.onEvent?.(e);
    e.midi = 64; // mutated after the sink returned: must not leak into the log
    for (let i = 0; i < count; i++) {
      l[i] = valueAt(this.position + i);
      r[i] = -l[i]!;
    }
    this.position += count;
  }
}

function options(name: string, seconds: number, midi = false): RenderOptions {
  return {
    seconds,
    seed: 1,
    params: DEFAULT_PARAMS,
    outPath: join(dir, `${name}.wav`),
    midiPath: midi ? join(dir, `${name}.mid`) : null,
  };
}

test('streams every frame, in order, for a length that is not a multiple of the block or write size', async () => {
  const seconds = 2.345_678; // 112 592.544 → 112 593 frames
  let source: RampSource | null = null;
  const r = await renderToFiles(options('ramp', seconds, true), {
    createSource: ({ onEvent }) => (source = new RampSource(onEvent)),
  });
  assert.equal(r.frames, 112_593);
  const w = parseWav(readFileSync(join(dir, 'ramp.wav')));
  assert.equal(w.frames, 112_593);
  assert.equal(w.dataOffset + w.data.length, r.outBytes);
  const v = new DataView(w.data.buffer, w.data.byteOffset, w.data.byteLength);
  for (let n = 0; n < w.frames; n++) {
    const expect = floatToInt16(valueAt(n));
    if (v.getInt16(4 * n, true) !== expect || v.getInt16(4 * n + 2, true) !== -expect) {
      assert.fail(`frame ${n} differs`);
    }
  }
  assert.deepEqual(
    [...source!.blockSizes].sort((a, b) => a - b),
    [112_593 % 4800, 4800],
  );
  // One note per block, copied when it was emitted (midi 60, not the later-mutated 64).
  const midi = parseMidiFile(readFileSync(join(dir, 'ramp.mid')));
  const ons = midi.tracks[2]!.events.filter((e) => e.kind === 0x90);
  assert.equal(ons.length, Math.ceil(112_593 / 4800));
  assert.ok(ons.every((e) => e.data1 === 60));
});

test('a failure mid-render removes the temporary files and leaves no target', async () => {
  await assert.rejects(
    renderToFiles(options('fails', 10, true), {
      createSource: ({ onEvent }) => new RampSource(onEvent, 48_000 * 3),
    }),
    /synthetic failure/,
  );
  await assert.rejects(
    renderToFiles(options('stops', 10), { createSource: () => new RampSource(), shouldStop: () => true }),
    /interrupted/,
  );
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('fails') || f.startsWith('stops') || f.endsWith('.tmp')),
    [],
  );
});

test('memory stays flat while rendering: two minutes add well under the size of the file', async () => {
  const before = process.memoryUsage();
  await renderToFiles(options('long', 120), { createSource: () => new RampSource() });
  const afterUse = process.memoryUsage();
  const fileBytes = 120 * 48_000 * 4; // 23 MB
  const grown = afterUse.arrayBuffers + afterUse.heapUsed - (before.arrayBuffers + before.heapUsed);
  assert.ok(
    grown < fileBytes / 4,
    `grew ${(grown / 1e6).toFixed(1)} MB for a ${(fileBytes / 1e6).toFixed(0)} MB file`,
  );
  assert.equal(parseWav(readFileSync(join(dir, 'long.wav'))).frames, 120 * 48_000);
});

test('parameters: preset first, explicit parameters override it; flats are normalised', () => {
  const o = parseRenderArgs([
    '--seconds',
    '1',
    '--out',
    'x.wav',
    '--preset',
    'sleep',
    '--bpm',
    '55',
    '--key',
    'Bb',
  ]);
  assert.ok(o !== 'help');
  assert.deepEqual(o.params, { key: 'A#', mode: 'phrygian', bpm: 55, intensity: 0.12, preset: 'sleep' });
  assert.equal(o.seed, 1);
  const p = parseRenderArgs(['--seconds=86400', '--out=y.wav', '--seed=4294967295']);
  assert.ok(p !== 'help');
  assert.deepEqual([p.seconds, p.seed, p.params], [86_400, 4_294_967_295, DEFAULT_PARAMS]);
});

test('argument errors carry the argument they blame', () => {
  const blame = (argv: string[]): string => {
    try {
      parseRenderArgs(argv);
    } catch (e) {
      assert.ok(e instanceof ArgError);
      return e.argument;
    }
    return 'none';
  };
  assert.equal(blame(['--seconds', '1', '--out', 'x', '--bpm', '39.9']), '--bpm');
  assert.equal(blame(['--seconds', '1', '--out', 'x', '--seed', '-1']), '--seed');
  assert.equal(blame(['--seconds', '1e-9', '--out', 'x']), '--seconds');
  assert.equal(blame(['--seconds', '1', '--out', 'x', '--out', 'y']), '--out');
  assert.equal(blame(['--seconds', '1', '--out', 'x.wav']), 'none');
  assert.equal(blame(['--seconds', '1', '--out', 'x.mp3']), 'none');
  assert.equal(blame(['--seconds', '1', '--out', 'x']), '--out');
  assert.throws(() => parseArgs(['--help=yes'], { values: [], flags: ['help'] }), /takes no value/);
});
