/**
 * The Opus bitrate ladder, measured on Auralis's own music: renders each preset's station offline
 * (48 kHz stereo, the server's 100 ms chunks), encodes it with the server's OpusChunkEncoder (the
 * server's default complexity) at each candidate bitrate, decodes it back, aligns it by
 * cross-correlation (checked against the encoder's pre-skip), and prints per bitrate and preset:
 * loudness difference, third-octave spectral difference and bandwidths, segmental SNR, bytes on
 * the wire (WebSocket and Ogg), encode time per chunk and clicks. Not a test: it prints numbers.
 *
 *   npm run bench:tiers -- [--seconds 60] [--bitrates 16,24,32,48,64,96,128,160]
 *                          [--presets focus,meditation,sleep,bright] [--seed 1] [--warmup 2]
 *                          [--complexity 5] [--md FILE] [--json FILE] [--bands]
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { machineInfo } from './lib/machine.ts';
import { fmt } from './lib/stats.ts';
import {
  BAND_RANGE_DB,
  BANDWIDTH_TOLERANCE_DB,
  CODED_BAND_SNR_DB,
  SAMPLE_RATE,
  bandLabel,
  measurePreset,
  thirdOctaveBands,
  type TierResult,
} from './lib/tiers.ts';
import { CONFIG_DEFAULTS } from '../src/server/config.ts';
import { PRESETS } from '../src/music/presets.ts';

/** The slowest link the ladder must serve, kb/s, and the headroom its lowest tier must leave. */
const SLOW_LINK_KBPS = 40;
const LINK_MARGIN = 1.25;

interface Args {
  seconds: number;
  bitrates: number[];
  presets: string[];
  seed: number;
  warmup: number;
  complexity: number;
  md: string | null;
  json: string | null;
  bands: boolean;
}

const USAGE = `usage: bench/tiers.ts [--seconds N] [--bitrates K,K,…] [--presets P,P,…] [--seed S]
                      [--warmup S] [--complexity C] [--md FILE] [--json FILE] [--bands]

  --seconds N      measured seconds per preset (default 60)
  --bitrates …     kb/s, 6–510 (default 16,24,32,48,64,96,128,160)
  --presets …      default: every preset (${PRESETS.map((p) => p.name).join(', ')})
  --seed S         station seed (default 1)
  --warmup S       seconds encoded from the station's start before measuring (default 2)
  --complexity C   Opus complexity 0–10 (default: the server's, ${CONFIG_DEFAULTS.opusComplexity})
  --md FILE        also write the tables as Markdown
  --json FILE      also write every result as JSON
  --bands          also print the per-band tables on the console (always in --md)
`;

function parseArgs(argv: string[]): Args {
  const a: Args = {
    seconds: 60,
    bitrates: [16, 24, 32, 48, 64, 96, 128, 160],
    presets: PRESETS.map((p) => p.name),
    seed: 1,
    warmup: 2,
    complexity: CONFIG_DEFAULTS.opusComplexity,
    md: null,
    json: null,
    bands: false,
  };
  const value = (i: number, name: string): string => {
    const v = argv[i];
    if (v === undefined) throw new Error(`${name} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (k === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (k === '--seconds') a.seconds = Number(value(++i, k));
    else if (k === '--bitrates') a.bitrates = value(++i, k).split(',').map(Number);
    else if (k === '--presets') a.presets = value(++i, k).split(',');
    else if (k === '--seed') a.seed = Number(value(++i, k));
    else if (k === '--warmup') a.warmup = Number(value(++i, k));
    else if (k === '--complexity') a.complexity = Number(value(++i, k));
    else if (k === '--md') a.md = value(++i, k);
    else if (k === '--json') a.json = value(++i, k);
    else if (k === '--bands') a.bands = true;
    else throw new Error(`unknown argument ${k}\n${USAGE}`);
  }
  if (!(a.seconds >= 1 && a.seconds <= 3600)) throw new Error('--seconds must be 1…3600');
  if (!a.bitrates.every((b) => Number.isInteger(b) && b >= 6 && b <= 510) || a.bitrates.length === 0) {
    throw new Error('--bitrates must be a comma list of integers 6…510 (kb/s)');
  }
  a.bitrates = [...new Set(a.bitrates)].sort((x, y) => x - y);
  for (const p of a.presets) {
    if (!PRESETS.some((x) => x.name === p)) throw new Error(`--presets: unknown preset ${p}`);
  }
  if (!(Number.isInteger(a.seed) && a.seed >= 0)) throw new Error('--seed must be a non-negative integer');
  if (!(a.warmup >= 0.5 && a.warmup <= 600)) throw new Error('--warmup must be 0.5…600 s');
  if (!(Number.isInteger(a.complexity) && a.complexity >= 0 && a.complexity <= 10)) {
    throw new Error('--complexity must be an integer 0…10');
  }
  return a;
}

const signed = (v: number, d: number): string => (v > 0 ? '+' : '') + fmt(v, d);

function table(head: string[], rows: string[][]): { md: string; text: string } {
  const md = [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---:').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => c.padStart(widths[i]!)).join('  ');
  const text = [line(head), ...rows.map(line)].join('\n');
  return { md, text };
}

function summaryTable(results: TierResult[], bitrates: number[]): { md: string; text: string } {
  const head = [
    'kb/s',
    'Opus kb/s',
    'WS kb/s (max)',
    'WS ×1.25 < 40?',
    'Ogg kb/s (max)',
    'ΔLUFS (worst)',
    'band Δ mean abs dB (worst)',
    'level BW (min)',
    'coded BW (min–max)',
    'segSNR dB (min–max)',
    'residual dB (max)',
    'L/R corr Δ (max)',
    'clicks',
    'enc ms mean',
    'enc ms p95',
  ];
  const rows = bitrates.map((k) => {
    const rs = results.filter((r) => r.kbps === k);
    const of = (f: (r: TierResult) => number): number[] => rs.map(f);
    const max = (v: number[]): number => Math.max(...v);
    const min = (v: number[]): number => Math.min(...v);
    const mean = (v: number[]): number => v.reduce((s, x) => s + x, 0) / v.length;
    /** The value farthest from 0, sign kept. */
    const worst = (v: number[]): number => v.reduce((w, x) => (Math.abs(x) > Math.abs(w) ? x : w), 0);
    const ws = max(of((r) => r.wsKbps));
    const fits = ws * LINK_MARGIN < SLOW_LINK_KBPS ? ' ✓' : ' ✗';
    const coded = of((r) => r.spectral.codedBandwidthHz);
    const snr = of((r) => r.segSnrDb);
    const stereo = of((r) => r.decodedStereoCorrelation - r.sourceStereoCorrelation);
    return [
      String(k),
      fmt(mean(of((r) => r.opusKbps)), 1),
      fmt(ws, 1),
      fmt(ws * LINK_MARGIN, 1) + fits,
      fmt(max(of((r) => r.oggKbps)), 1),
      signed(worst(of((r) => r.loudnessDiffLu)), 2),
      fmt(max(of((r) => r.spectral.meanAbsDiffDb)), 2),
      bandLabel(min(of((r) => r.spectral.bandwidthHz))),
      `${bandLabel(min(coded))}–${bandLabel(max(coded))}`,
      `${fmt(min(snr), 1)}–${fmt(max(snr), 1)}`,
      fmt(max(of((r) => r.residualDb)), 1),
      signed(worst(stereo), 3),
      String(rs.reduce((s, r) => s + r.decodedClicks, 0)),
      fmt(mean(of((r) => r.encodeMsMean)), 2),
      fmt(max(of((r) => r.encodeMsP95)), 2),
    ];
  });
  return table(head, rows);
}

function detailTable(results: TierResult[]): { md: string; text: string } {
  const head = [
    'preset',
    'kb/s',
    'Opus kb/s',
    'WS kb/s',
    'Ogg kb/s',
    'ΔLUFS',
    'band Δ mean abs dB',
    'worst band',
    'level BW',
    'coded BW',
    'segSNR dB',
    'residual dB',
    'L/R corr (src → dec)',
    'delay (xcorr / pre-skip)',
    'clicks (dec / src)',
    'enc ms mean',
    'enc ms p95',
  ];
  const rows = results.map((r) => [
    r.preset,
    String(r.kbps),
    fmt(r.opusKbps, 1),
    fmt(r.wsKbps, 1),
    fmt(r.oggKbps, 1),
    signed(r.loudnessDiffLu, 2),
    fmt(r.spectral.meanAbsDiffDb, 2),
    `${bandLabel(r.spectral.worstBandHz)}: ${signed(r.spectral.worstBandDiffDb, 1)}`,
    bandLabel(r.spectral.bandwidthHz),
    bandLabel(r.spectral.codedBandwidthHz),
    fmt(r.segSnrDb, 1),
    fmt(r.residualDb, 1),
    `${fmt(r.sourceStereoCorrelation, 3)} → ${fmt(r.decodedStereoCorrelation, 3)}`,
    `${r.delayFrames} / ${r.preSkipFrames} (r=${fmt(r.alignCorrelation, 3)})`,
    `${r.decodedClicks} / ${r.sourceClicks}`,
    fmt(r.encodeMsMean, 2),
    fmt(r.encodeMsP95, 2),
  ]);
  return table(head, rows);
}

/** Band by band for one preset: source level (dB re its loudest band), then per bitrate Δlevel / band SNR. */
function bandTable(
  results: TierResult[],
  preset: string,
  sourceLevels: (number | null)[],
): { md: string; text: string } {
  const rs = results.filter((r) => r.preset === preset);
  const bands = thirdOctaveBands();
  const head = ['band (Hz)', 'source dB', ...rs.map((r) => `${r.kbps}: Δ / SNR`)];
  const rows: string[][] = [];
  bands.forEach((b, i) => {
    const lvl = sourceLevels[i];
    if (lvl === null || lvl === undefined) return;
    rows.push([
      b.label,
      fmt(lvl, 1),
      ...rs.map(
        (r) =>
          `${signed(r.spectral.diffDb[i] ?? Number.NaN, 1)} / ${fmt(r.spectral.bandSnrDb[i] ?? Number.NaN, 1)}`,
      ),
    ]);
  });
  return table(head, rows);
}

const args = parseArgs(process.argv.slice(2));
const machine = machineInfo();
const loadBefore = loadavg();
const started = new Date();
const t0 = performance.now();
const chunkFrames = Math.round((SAMPLE_RATE * CONFIG_DEFAULTS.chunkMs) / 1000);
const results: TierResult[] = [];
const sourceLevels = new Map<string, (number | null)[]>();
for (const preset of args.presets) {
  const { results: rs, sourceBandLevelsDb } = measurePreset({
    preset,
    seed: args.seed,
    seconds: args.seconds,
    warmupSeconds: args.warmup,
    bitratesKbps: args.bitrates,
    complexity: args.complexity,
    chunkFrames,
    onResult: (r) =>
      process.stderr.write(
        `${preset} ${r.kbps} kb/s: ΔLUFS ${signed(r.loudnessDiffLu, 2)}, coded BW ${bandLabel(r.spectral.codedBandwidthHz)}, segSNR ${fmt(r.segSnrDb, 1)} dB, WS ${fmt(r.wsKbps, 1)} kb/s\n`,
      ),
  });
  results.push(...rs);
  sourceLevels.set(preset, sourceBandLevelsDb);
}
const wallSeconds = (performance.now() - t0) / 1000;
const loadAfter = loadavg();
const first = results[0]!;
const command = `npm run bench:tiers -- ${process.argv.slice(2).join(' ')}`.trim();
const setup =
  `${args.presets.length} presets (${args.presets.join(', ')}), seed ${args.seed}, ${args.seconds} s measured after ` +
  `${args.warmup} s from the station's start, ${CONFIG_DEFAULTS.chunkMs} ms chunks (${chunkFrames} frames), 48 kHz stereo; ` +
  `Opus backend ${first.backend}, complexity ${args.complexity}, pre-skip ${first.preSkipFrames} frames`;
const machineLine =
  `${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGb} GB, ${machine.os}, Node ${machine.node}; ` +
  `load average (1/5/15 min) ${loadBefore.map((v) => v.toFixed(2)).join(' ')} before, ` +
  `${loadAfter.map((v) => v.toFixed(2)).join(' ')} after; ${wallSeconds.toFixed(0)} s wall`;
const summary = summaryTable(results, args.bitrates);
const detail = detailTable(results);
const notes = [
  `Opus kb/s: the Opus packets alone. WS kb/s: what a WebSocket listener receives (per 100 ms chunk: the WebSocket frame header, the 32-byte chunk header, a 2-byte length per 20 ms packet, the packets). Ogg kb/s: the Ogg pages of /stream/:id.ogg (27 bytes + lacing per page, one page per chunk; the two header pages, ${first.oggHeaderBytes} bytes, once per connection, not counted). TCP/IP and TLS are not counted. WS ×1.25 must stay under ${SLOW_LINK_KBPS} kb/s for the lowest tier (✗ where it does not).`,
  `ΔLUFS: integrated loudness (EBU R128) of the decoded signal minus the source's. band Δ mean abs: mean absolute difference of third-octave band levels (25 Hz–20 kHz, both channels' power), over the bands within ${BAND_RANGE_DB} dB of the source's loudest band; worst band: the largest difference. Level BW: the highest such band whose decoded level is at most ${BANDWIDTH_TOLERANCE_DB} dB under the source's. Coded BW: the highest band whose residual (source − aligned decoded) is at least ${CODED_BAND_SNR_DB} dB under the source (band SNR ≥ ${CODED_BAND_SNR_DB} dB); a band Opus fills with noise of the right energy scores about −3 dB.`,
  'segSNR: mean over 20 ms segments of the signal-to-residual ratio (clamped to −10…35 dB, segments under −60 dBFS skipped); residual: the residual energy relative to the source over the whole run. For a perceptual codec these understate quality (the codec spends no bits on waveform detail the ear does not hear): read them as trend indicators only.',
  'L/R corr: Pearson correlation of left and right (1 = mono); a rise means the decoded image is narrower (Opus trades stereo detail for bits at low rates).',
  'delay: the lag of the cross-correlation maximum (mid signal, 0…2048 frames) and the encoder lookahead (OpusHead pre-skip); every measure is taken at the measured lag. clicks: click detector (src/dsp/analysis/clicks.ts) on both channels of the measured span. enc ms: wall time of OpusChunkEncoder.encode() per 100 ms chunk (5 packets) on this machine.',
];

console.log(`${setup}\n${machineLine}\n`);
console.log(summary.text);
console.log();
console.log(detail.text);
if (args.bands) {
  for (const p of args.presets) {
    console.log(`\n${p}: per band, decoded − source level / band SNR (dB)`);
    console.log(bandTable(results, p, sourceLevels.get(p)!).text);
  }
}
if (args.md) {
  const md = [
    `Command: \`${command}\` (started ${started.toISOString()})`,
    '',
    `Setup: ${setup}.`,
    '',
    `Machine: ${machineLine}.`,
    '',
    '#### Summary per bitrate (over the presets)',
    '',
    summary.md,
    '',
    '#### Per preset',
    '',
    detail.md,
    '',
    ...notes.flatMap((n) => [`- ${n}`]),
    '',
    '#### Per band (decoded − source level / band SNR, dB; source level relative to its loudest band)',
    '',
    ...args.presets.flatMap((p) => [`${p}:`, '', bandTable(results, p, sourceLevels.get(p)!).md, '']),
  ].join('\n');
  writeFileSync(args.md, md);
  console.error(`wrote ${args.md}`);
}
if (args.json) {
  writeFileSync(
    args.json,
    JSON.stringify(
      {
        command,
        started: started.toISOString(),
        setup,
        machine,
        loadBefore,
        loadAfter,
        wallSeconds,
        results,
      },
      null,
      2,
    ),
  );
  console.error(`wrote ${args.json}`);
}
