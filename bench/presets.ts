/**
 * Preset measurement: renders every preset through StationRenderer (the whole mix a listener
 * hears, fixed seed) and prints a markdown table of what tells them apart — spectral centroid,
 * low/high band shares, loudness, stereo width, register, event density per instrument — and
 * then, for every pair of presets, which of the distinctness rule's criteria separates them
 * (docs/performance/presets.md). Not a test: it prints numbers.
 *
 *   npm run bench:presets -- [--seconds 120] [--seed 11] [--preset night,pulse]
 *
 * Sampled presets (piano, strings) are measured with the installed SoundFont; without one they
 * are left out (said so).
 */
import { parseArgs } from 'node:util';
import { findDefaultSoundFont, loadSoundFont } from '../src/dsp/soundfont.ts';
import { PRESETS } from '../src/music/presets.ts';
import { INSTRUMENTS } from '../src/music/types.ts';
import { measurePreset, type PresetFeatures } from './lib/preset-features.ts';
import { distinctBy } from './lib/preset-rule.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '120' },
    seed: { type: 'string', default: '11' },
    preset: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const seed = Number(values.seed);
const wanted = values.preset?.split(',') ?? PRESETS.map((p) => p.name);
const sfPath = findDefaultSoundFont();
const soundfont = sfPath === null ? null : loadSoundFont(sfPath);

const rows: PresetFeatures[] = [];
for (const name of wanted) {
  const preset = PRESETS.find((p) => p.name === name);
  if (!preset) throw new Error(`no preset ${name}`);
  if (preset.sampled && soundfont === null) {
    console.log(`(${name} left out: it needs a SoundFont and none is installed)`);
    continue;
  }
  const t0 = performance.now();
  rows.push(measurePreset({ preset: name, seconds, seed, soundfont: preset.sampled ? soundfont : null }));
  console.error(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const f1 = (x: number) => x.toFixed(1);
console.log(`\n${seconds} s per preset after a 10 s lead-in, seed ${seed}, 48 kHz.\n`);
console.log(
  `| preset | mode | BPM | centroid Hz | <250 Hz % | >2 kHz % | LUFS | LRA LU | L/R corr | mean MIDI | events/min | ${INSTRUMENTS.join(' | ')} |`,
);
console.log(`|${' --- |'.repeat(11 + INSTRUMENTS.length)}`);
for (const r of rows) {
  console.log(
    `| ${r.preset} | ${r.mode} | ${r.bpm} | ${Math.round(r.centroidHz)} | ${f1(r.lowShare * 100)} | ${f1(r.highShare * 100)} | ${f1(r.integratedLufs)} | ${f1(r.loudnessRangeLu)} | ${r.correlation.toFixed(2)} | ${f1(r.meanMidi)} | ${f1(r.eventsPerMinute)} | ${INSTRUMENTS.map((i) => f1(r.perInstrument[i])).join(' | ')} |`,
  );
}
console.log('\nWhat separates each pair (the distinctness rule):\n');
console.log('| pair | differs by |');
console.log('| --- | --- |');
let failures = 0;
for (let i = 0; i < rows.length; i++) {
  for (let j = i + 1; j < rows.length; j++) {
    const why = distinctBy(rows[i]!, rows[j]!);
    if (why.length === 0) failures++;
    console.log(
      `| ${rows[i]!.preset} / ${rows[j]!.preset} | ${why.length ? why.join('; ') : '**not distinct**'} |`,
    );
  }
}
console.log(`\n${failures === 0 ? 'every pair is distinct' : `${failures} pair(s) not distinct`}`);
