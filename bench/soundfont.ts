/**
 * Sampled-layer benchmark: what the SoundFont layer (spessasynth_core) costs and how the sampled
 * presets sound. For each sampled preset, renders the station (composer + synth + sampled layer,
 * 100 ms chunks as the engine renders) and, back to back, the same station without a SoundFont
 * (the built-in instruments play the same notes): prints the real-time factor per core of each,
 * the cost of the sampled layer alone (CPU time of its control ticks), RSS before and after
 * parsing the SoundFont, and the loudness (integrated LUFS, LRA), true peak and spectral centroid
 * of the sampled render. Not a test: it prints numbers.
 *
 *   node --import tsx bench/soundfont.ts [--soundfont PATH] [--seconds 60] [--preset piano,strings]
 */
import { cpuUsage, memoryUsage } from 'node:process';
import { LoudnessMeter, TruePeakMeter } from '../src/dsp/analysis/index.ts';
import { powerSpectrum, spectralCentroidHz } from '../src/dsp/analysis/spectrum.ts';
import {
  findDefaultSoundFont,
  loadSoundFont,
  SampledLayer,
  type SoundFontBank,
} from '../src/dsp/soundfont.ts';
import { StationRenderer } from '../src/engine/station-renderer.ts';
import { DEFAULT_PARAMS } from '../src/music/params.ts';
import { PRESETS } from '../src/music/presets.ts';
import { SAMPLE_RATE } from '../src/music/types.ts';

const CHUNK = SAMPLE_RATE / 10;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const seconds = Number(arg('seconds', '60'));
const sampledPresets = PRESETS.filter((p) => p.sampled).map((p) => p.name);
const presets = arg('preset', sampledPresets.join(',')).split(',');
const path = arg('soundfont', findDefaultSoundFont() ?? '');
if (path === '') {
  console.error(
    'no SoundFont found in /usr/share/sounds/sf2 (apt-get install timgm6mb-soundfont) and none given',
  );
  process.exit(2);
}

// The sampled layer's own time: its control tick (note events and the period's render) timed.
let layerMs = 0;
let maxVoices = 0;
const control = SampledLayer.prototype.control;
SampledLayer.prototype.control = function (this: SampledLayer, pos: number): void {
  const t = cpuUsage();
  control.call(this, pos);
  const d = cpuUsage(t);
  layerMs += (d.user + d.system) / 1000;
  maxVoices = Math.max(maxVoices, this.voiceCount);
};

const mb = (b: number): string => (b / 1024 / 1024).toFixed(1);
const rssBefore = memoryUsage().rss;
const t0 = performance.now();
const bank = loadSoundFont(path);
const loadMs = performance.now() - t0;
const rssAfter = memoryUsage().rss;
console.log(
  `soundfont ${path}: ${mb(bank.bytes)} MiB file, parsed in ${loadMs.toFixed(0)} ms, RSS ${mb(rssBefore)} → ${mb(rssAfter)} MiB (+${mb(rssAfter - rssBefore)})`,
);

function render(
  preset: string,
  sf: SoundFontBank | null,
  measure: boolean,
): { cpuS: number; lufs: number; lra: number; tp: number; centroid: number } {
  const p = PRESETS.find((x) => x.name === preset)!;
  const r = new StationRenderer({
    seed: 7,
    params: { ...DEFAULT_PARAMS, ...p.params, preset },
    soundfont: sf,
  });
  const L = new Float32Array(CHUNK);
  const R = new Float32Array(CHUNK);
  const loud = new LoudnessMeter(SAMPLE_RATE);
  const tpL = new TruePeakMeter();
  const tpR = new TruePeakMeter();
  const chunks = Math.round((seconds * SAMPLE_RATE) / CHUNK);
  const mono = measure ? new Float32Array(chunks * CHUNK) : null;
  let cpu = 0;
  for (let c = 0; c < chunks; c++) {
    const u = cpuUsage();
    r.render(L, R, CHUNK);
    const d = cpuUsage(u);
    cpu += (d.user + d.system) / 1e6;
    if (measure) {
      loud.push(L, R);
      tpL.push(L);
      tpR.push(R);
      for (let i = 0; i < CHUNK; i++) mono![c * CHUNK + i] = (L[i]! + R[i]!) / 2;
    }
  }
  if (!measure) return { cpuS: cpu, lufs: NaN, lra: NaN, tp: NaN, centroid: NaN };
  return {
    cpuS: cpu,
    lufs: loud.integratedLufs(),
    lra: loud.loudnessRangeLu(),
    tp: Math.max(tpL.truePeakDb, tpR.truePeakDb),
    centroid: spectralCentroidHz(powerSpectrum(mono!, SAMPLE_RATE)),
  };
}

for (const preset of presets) {
  render(preset, bank, false); // warm-up (JIT)
  layerMs = 0;
  maxVoices = 0;
  const withSf = render(preset, bank, true);
  const layerS = layerMs / 1000;
  const without = render(preset, null, false);
  console.log(
    `${preset}: ${seconds} s; with the sampled layer ${(seconds / withSf.cpuS).toFixed(0)}× real time per core, ` +
      `built-in only ${(seconds / without.cpuS).toFixed(0)}×; the sampled layer alone ${(seconds / layerS).toFixed(0)}× ` +
      `(CPU of its ticks; up to ${maxVoices} voices); ` +
      `${withSf.lufs.toFixed(1)} LUFS, LRA ${withSf.lra.toFixed(1)} LU, true peak ${withSf.tp.toFixed(1)} dBTP, centroid ${withSf.centroid.toFixed(0)} Hz`,
  );
}
console.log(`RSS at the end ${mb(memoryUsage().rss)} MiB`);
