import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseMidiFile } from '../../src/codec/midi-parse.ts';
import { decodePcm16 } from '../../src/codec/pcm16.ts';
import { parseWav } from '../../src/codec/wav.ts';
import { decodeMp3, probeAudio } from '../codec/mp3-tools.ts';
import { requireTool } from '../codec/tools.ts';
import { inBatches, runCli, type CliResult } from './run-cli.ts';

let dir = '';
const SECONDS = 4;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'auralis-cli-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function render(name: string, extra: string[]): Promise<CliResult> {
  return runCli([
    'render',
    '--seconds',
    String(SECONDS),
    '--out',
    join(dir, `${name}.wav`),
    '--midi',
    join(dir, `${name}.mid`),
    ...extra,
  ]);
}

test('same arguments give byte-identical WAV and MIDI; another seed gives different audio', async () => {
  const [a, b, c] = await inBatches(
    [
      () => render('a', ['--seed', '42']),
      () => render('b', ['--seed', '42']),
      () => render('c', ['--seed', '43']),
    ],
    2,
  );
  for (const r of [a!, b!, c!]) assert.equal(r.code, 0, r.stderr);
  assert.match(a!.stdout, /seed=42 .*bpm=70 .*real time/);
  const wav = (n: string) => readFileSync(join(dir, `${n}.wav`));
  const mid = (n: string) => readFileSync(join(dir, `${n}.mid`));
  assert.ok(wav('a').equals(wav('b')), 'same seed, same WAV bytes');
  assert.ok(mid('a').equals(mid('b')), 'same seed, same MIDI bytes');
  assert.ok(!wav('a').equals(wav('c')), 'different seed, different WAV');
  // Nothing but the outputs is left in the folder (the temporary files were renamed).
  assert.deepEqual(readdirSync(dir).sort(), ['a.mid', 'a.wav', 'b.mid', 'b.wav', 'c.mid', 'c.wav']);
});

test('the WAV is 48 kHz stereo s16 of the asked length, audible and not clipped; the MIDI holds the score', (t) => {
  const bytes = readFileSync(join(dir, 'a.wav'));
  const w = parseWav(bytes);
  assert.deepEqual([w.sampleRate, w.channels, w.bitsPerSample, w.frames], [48_000, 2, 16, SECONDS * 48_000]);
  assert.equal(w.dataOffset + w.data.length, bytes.length);
  const { l, r } = decodePcm16(w.data);
  let sum = 0;
  let peak = 0;
  let atFullScale = 0;
  for (const ch of [l, r]) {
    for (let i = 0; i < ch.length; i++) {
      const v = Math.abs(ch[i]!);
      sum += v * v;
      if (v > peak) peak = v;
      if (v >= 32766 / 32767) atFullScale++;
    }
  }
  const rmsDb = 10 * Math.log10(sum / (l.length + r.length));
  assert.ok(rmsDb > -45, `RMS ${rmsDb.toFixed(1)} dBFS: too quiet`);
  assert.ok(peak < 1, `peak ${peak}`);
  assert.equal(atFullScale, 0, 'samples at full scale (clipping)');
  // The second half is not silent either (the music goes on).
  let late = 0;
  for (let i = l.length / 2; i < l.length; i++) late += l[i]! * l[i]!;
  assert.ok(10 * Math.log10(late / (l.length / 2)) > -50);

  const midi = parseMidiFile(readFileSync(join(dir, 'a.mid')));
  assert.equal(midi.format, 1);
  assert.equal(midi.tracks.length, 6);
  const ons = midi.tracks.flatMap((tr) => tr.events.filter((e) => e.kind === 0x90 && e.data2 > 0));
  const offs = midi.tracks.flatMap((tr) => tr.events.filter((e) => e.kind === 0x80));
  assert.ok(ons.length > 0, 'the score has notes');
  assert.equal(ons.length, offs.length);

  if (!requireTool(t, 'ffprobe')) return;
  const probe = spawnSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-show_entries',
      'stream=codec_name,sample_rate,channels,duration',
      '-of',
      'json',
      join(dir, 'a.wav'),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(probe.status, 0, probe.stderr);
  const st = JSON.parse(probe.stdout).streams[0];
  assert.deepEqual(
    [st.codec_name, st.sample_rate, st.channels, Number(st.duration)],
    ['pcm_s16le', '48000', 2, SECONDS],
  );
});

test('bad arguments exit with code 2, name the argument and its range, and leave no file', async () => {
  const bad = mkdtempSync(join(tmpdir(), 'auralis-cli-bad-'));
  try {
    const out = join(bad, 'x.wav');
    const aDir = join(bad, 'a-directory.wav');
    mkdirSync(aDir);
    const cases: [string[], RegExp][] = [
      [['--seconds', '1', '--out', out, '--frobnicate', '3'], /unknown option --frobnicate/],
      [['--seconds', '1', '--out', out, '--bpm'], /--bpm needs a value/],
      [['--seconds', '1', '--bpm', '--out', out], /--bpm needs a value/],
      [['--seconds', '1', '--out', out, '--bpm', '500'], /--bpm.*between 40 and 120.*500/],
      [['--seconds', '1', '--out', out, '--intensity', '-0.5'], /--intensity.*between 0 and 1/],
      [['--seconds', '0', '--out', out], /--seconds.*0 < N <= 86400/],
      [['--seconds', '86401', '--out', out], /--seconds.*0 < N <= 86400/],
      [['--seconds', 'abc', '--out', out], /--seconds.*0 < N <= 86400/],
      [['--seconds', '1', '--out', out, '--seed', '4294967296'], /--seed.*0 and 4294967295/],
      [['--seconds', '1', '--out', out, '--seed', '1.5'], /--seed.*integer/],
      [['--seconds', '1', '--out', out, '--preset', 'disco'], /--preset.*focus, meditation, sleep, bright/],
      [['--seconds', '1', '--out', out, '--key', 'H'], /--key.*C, C#\/Db … B/],
      [
        ['--seconds', '1', '--out', out, '--preset', 'piano', '--soundfont', join(bad, 'none.sf2')],
        /--soundfont: .*none\.sf2 cannot be read \(ENOENT\)/,
      ],
      [['--seconds', '1', '--out', out, '--soundfont', aDir], /--soundfont: .* is not a file/],
      [['--seconds', '1', '--out', out, '--mode', 'locrian'], /--mode.*ionian, dorian/],
      [['--seconds', '1'], /--out is required/],
      [['--out', out], /--seconds is required/],
      [
        ['--seconds', '1', '--out', join(bad, 'no', 'such', 'dir', 'x.wav')],
        /--out .*cannot be written \(ENOENT/,
      ],
      [['--seconds', '1', '--out', aDir], /--out .*is a directory/],
      [['--seconds', '1', '--out', out, '--midi', join(bad, 'nope', 'x.mid')], /--midi .*cannot be written/],
      [['--seconds', '1', '--out', out, '--midi', out], /--midi must name a different file/],
      [['--seconds', '1', 'x.wav'], /unexpected argument "x.wav"/],
      [['--seconds', '1', '--out', join(bad, 'x.ogg')], /--out must end in \.wav or \.mp3 .*x\.ogg/],
      [['--seconds', '1', '--out', join(bad, 'x')], /--out must end in \.wav or \.mp3/],
    ];
    const results = await inBatches(
      cases.map(
        ([args]) =>
          () =>
            runCli(['render', ...args]),
      ),
      3,
    );
    results.forEach((r, i) => {
      const [args, pattern] = cases[i]!;
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, pattern, `${args.join(' ')}`);
      assert.equal(r.stdout, '');
    });
    assert.deepEqual(readdirSync(bad), ['a-directory.wav']);
    assert.deepEqual(readdirSync(aDir), []);
  } finally {
    rmSync(bad, { recursive: true, force: true });
  }
});

test('a finished render replaces an existing file; without --seed it uses and prints seed 1', async () => {
  const out = join(dir, 'keep.wav');
  writeFileSync(out, 'old');
  chmodSync(out, 0o644);
  const r = await runCli(['render', '--seconds', '0.5', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^rendered 0\.500 s \(24000 frames\) seed=1 key=A mode=aeolian bpm=70 intensity=0\.5 preset=none/,
  );
  assert.equal(parseWav(readFileSync(out)).frames, 24_000);
});

test('SIGINT during a long render exits 130, leaves no temporary file and the old target untouched', async () => {
  const sub = mkdtempSync(join(tmpdir(), 'auralis-cli-int-'));
  try {
    writeFileSync(join(sub, 'long.wav'), 'old');
    let pid = 0;
    const running = runCli(
      ['render', '--seconds', '3600', '--out', join(sub, 'long.wav'), '--midi', join(sub, 'long.mid')],
      {
        onSpawn: (p) => (pid = p),
      },
    );
    // Wait until rendering has begun (its temporary files exist), then interrupt.
    const deadline = Date.now() + 30_000;
    while (readdirSync(sub).filter((f) => f.endsWith('.tmp')).length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(readdirSync(sub).filter((f) => f.endsWith('.tmp')).length, 2, 'temporary files appeared');
    assert.equal(
      readFileSync(join(sub, 'long.wav'), 'utf8'),
      'old',
      'the target is not touched while rendering',
    );
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pid, 'SIGINT');
    const r = await running;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted; no file written/);
    assert.deepEqual(readdirSync(sub), ['long.wav']);
    assert.equal(readFileSync(join(sub, 'long.wav'), 'utf8'), 'old');
  } finally {
    rmSync(sub, { recursive: true, force: true });
  }
});

test('`auralis --help` prints usage; an unknown command exits 2', async () => {
  const [help, unknown, renderHelp] = await inBatches(
    [() => runCli(['--help']), () => runCli(['dance']), () => runCli(['render', '--help'])],
    3,
  );
  assert.equal(help!.code, 0);
  assert.match(help!.stdout, /auralis serve/);
  assert.match(help!.stdout, /auralis render/);
  assert.equal(unknown!.code, 2);
  assert.match(unknown!.stderr, /unknown command "dance"/);
  assert.equal(renderHelp!.code, 0);
  assert.match(renderHelp!.stdout, /--seconds N/);
});

test('--out x.mp3 writes MP3 (48 kHz stereo, the asked length, audible), the same bytes for the same arguments', async (t) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  const args = (name: string) => ['render', '--seconds', '3', '--seed', '7', '--out', join(dir, name)];
  const [a, b] = await inBatches([() => runCli(args('m1.mp3')), () => runCli(args('m2.MP3'))], 2);
  for (const r of [a!, b!]) assert.equal(r.code, 0, r.stderr);
  const bytes = readFileSync(join(dir, 'm1.mp3'));
  assert.ok(bytes.equals(readFileSync(join(dir, 'm2.MP3'))), 'same arguments, same MP3 bytes');
  // An MP3 frame header at byte 0 (no RIFF/WAVE in an .mp3 file any more).
  assert.equal(bytes[0], 0xff);
  assert.equal(bytes.subarray(0, 4).toString('latin1') === 'RIFF', false);
  assert.deepEqual(probeAudio(bytes), { codec: 'mp3', rate: '48000', channels: 2, format: 'mp3' });
  const dec = decodeMp3(bytes);
  assert.equal(dec.stderr, '', 'ffmpeg decodes it without an error');
  // 3 s, plus LAME's encoder delay and the padding of the last frame (under 3 frames of 24 ms).
  assert.ok(dec.seconds >= 3 && dec.seconds < 3.08, `${dec.seconds} s decoded`);
  assert.ok(dec.rmsDb > -45, `audible: ${dec.rmsDb.toFixed(1)} dBFS`);
  // About 128 kb/s.
  const kbps = (bytes.length * 8) / dec.seconds / 1000;
  assert.ok(kbps > 120 && kbps < 136, `${kbps.toFixed(1)} kb/s`);
});

test(
  'render --preset piano plays the SoundFont: same arguments, same bytes; the piano sounds',
  {
    skip: existsSync('/usr/share/sounds/sf2/TimGM6mb.sf2')
      ? false
      : 'no SoundFont (apt-get install timgm6mb-soundfont)',
  },
  async () => {
    const sf = ['--preset', 'piano', '--soundfont', '/usr/share/sounds/sf2/TimGM6mb.sf2'];
    const [a, b] = await inBatches([() => render('pa', sf), () => render('pb', sf)], 2);
    assert.equal(a!.code, 0, a!.stderr);
    assert.equal(b!.code, 0, b!.stderr);
    assert.match(a!.stdout, /preset=piano/);
    const wa = readFileSync(join(dir, 'pa.wav'));
    assert.ok(wa.equals(readFileSync(join(dir, 'pb.wav'))), 'two renders differ');
    const { l } = decodePcm16(parseWav(wa).data);
    let energy = 0;
    for (const x of l) energy += x * x;
    assert.ok(energy > 1e-3, `silent piano: ${energy}`);
  },
);
