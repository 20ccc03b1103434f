import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  compareBands,
  countClicks,
  findDelay,
  measurePreset,
  thirdOctaveBands,
  type Stereo,
  type TierResult,
} from '../../bench/lib/tiers.ts';
import { OpusChunkEncoder } from '../../src/codec/opus-encoder.ts';
import { splitOpusPackets } from '../../src/codec/opus-wire.ts';
import { CONFIG_DEFAULTS } from '../../src/server/config.ts';

const CHUNK = 4800;
const WARMUP_S = 1;
const SECONDS = 4;
const KBPS = [24, 48, 96];

describe('bench:tiers measurement (4 s of focus at 24, 48, 96 kb/s)', () => {
  let source: Stereo;
  let results: TierResult[];
  before(() => {
    const m = measurePreset({
      preset: 'focus',
      seed: 1,
      seconds: SECONDS,
      warmupSeconds: WARMUP_S,
      bitratesKbps: KBPS,
      complexity: CONFIG_DEFAULTS.opusComplexity,
      chunkFrames: CHUNK,
    });
    source = m.source;
    results = m.results;
    assert.deepEqual(
      results.map((r) => r.kbps),
      KBPS,
    );
  });

  it('finds the encoder delay by cross-correlation, and it is the pre-skip', () => {
    for (const r of results) {
      assert.ok(r.preSkipFrames > 0);
      assert.equal(r.delayFrames, r.preSkipFrames, `${r.kbps} kb/s`);
      assert.ok(r.alignCorrelation > 0.9, `${r.kbps} kb/s: correlation ${r.alignCorrelation}`);
    }
  });

  it('keeps the loudness within ±1 LU from 48 kb/s, and the waveform error falls as the rate rises', () => {
    for (const r of results) {
      // Precondition: there is music to measure.
      assert.ok(r.sourceLufs > -40 && r.sourceLufs < -5, `source ${r.sourceLufs} LUFS`);
      if (r.kbps >= 48) assert.ok(Math.abs(r.loudnessDiffLu) <= 1, `${r.kbps}: ΔLUFS ${r.loudnessDiffLu}`);
    }
    for (let i = 1; i < results.length; i++) {
      assert.ok(results[i]!.segSnrDb > results[i - 1]!.segSnrDb, 'segmental SNR rises with the rate');
      assert.ok(results[i]!.residualDb < results[i - 1]!.residualDb, 'residual falls with the rate');
    }
    // Misaligned by even a few frames, the residual of these pads would be near the signal itself.
    const top = results[results.length - 1]!;
    assert.ok(top.segSnrDb >= 10, `96 kb/s segSNR ${top.segSnrDb} dB`);
    assert.ok(top.residualDb <= -10, `96 kb/s residual ${top.residualDb} dB`);
    assert.ok(Math.abs(top.decodedStereoCorrelation - top.sourceStereoCorrelation) < 0.05);
  });

  it('reports bandwidths that never fall as the rate rises, and the coded bandwidth grows', () => {
    for (let i = 1; i < results.length; i++) {
      const [a, b] = [results[i - 1]!.spectral, results[i]!.spectral];
      assert.ok(b.bandwidthHz >= a.bandwidthHz, `level bandwidth ${a.bandwidthHz} → ${b.bandwidthHz}`);
      assert.ok(
        b.codedBandwidthHz >= a.codedBandwidthHz,
        `coded bandwidth ${a.codedBandwidthHz} → ${b.codedBandwidthHz}`,
      );
    }
    const [low, high] = [results[0]!.spectral, results[results.length - 1]!.spectral];
    assert.ok(
      high.codedBandwidthHz > 2 * low.codedBandwidthHz,
      `${low.codedBandwidthHz} vs ${high.codedBandwidthHz}`,
    );
    assert.ok(low.bandsCounted >= 15 && high.sourceTopHz >= 10_000);
    for (const r of results.filter((x) => x.kbps >= 48)) {
      assert.ok(r.spectral.meanAbsDiffDb < 1.5, `${r.kbps}: band |Δ| ${r.spectral.meanAbsDiffDb}`);
    }
  });

  it('finds no clicks in the decoded audio (and would find one)', () => {
    for (const r of results) assert.equal(r.decodedClicks, 0, `${r.kbps} kb/s`);
    // The detector over the same span does report a step put into it.
    const start = WARMUP_S * 48_000;
    const stepped: Stereo = { l: source.l.slice(), r: source.r.slice() };
    for (let i = start + 48_000; i < stepped.l.length; i++) stepped.l[i]! += 0.05;
    assert.equal(countClicks(stepped, start, start + SECONDS * 48_000), 1);
    assert.equal(countClicks(source, start, start + SECONDS * 48_000), 0);
  });

  it("reports the wire bytes the server's encoder, WebSocket framing and Ogg pages really produce", () => {
    const warmChunks = WARMUP_S * 10;
    const chunks = SECONDS * 10;
    for (const r of results) {
      const enc = new OpusChunkEncoder({
        bitrate: r.kbps * 1000,
        complexity: CONFIG_DEFAULTS.opusComplexity,
      });
      const out = new Uint8Array(OpusChunkEncoder.maxBytes(CHUNK));
      let payload = 0;
      let packets = 0;
      let ws = 0;
      let ogg = 0;
      try {
        for (let c = 0; c < warmChunks + chunks; c++) {
          const l = source.l.slice(c * CHUNK, (c + 1) * CHUNK);
          const rr = source.r.slice(c * CHUNK, (c + 1) * CHUNK);
          const n = enc.encode(l, rr, CHUNK, out, 0);
          if (c < warmChunks) continue;
          const ps = splitOpusPackets(out.subarray(0, n));
          assert.equal(ps.length, 5);
          const bytes = ps.reduce((s, p) => s + p.length, 0);
          payload += n;
          packets += bytes;
          // RFC 6455: 2-byte header up to 125 bytes, 4 up to 65535; then the 32-byte chunk header.
          const frame = 32 + n;
          ws += frame + (frame < 126 ? 2 : 4);
          // RFC 3533: 27-byte page header, one lacing value per 255 bytes (+1), the packets.
          ogg += 27 + ps.reduce((s, p) => s + Math.floor(p.length / 255) + 1, 0) + bytes;
        }
      } finally {
        enc.close();
      }
      assert.equal(r.chunks, chunks);
      assert.equal(r.payloadBytes, payload, `${r.kbps}: payload`);
      assert.equal(r.packetBytes, packets, `${r.kbps}: packets`);
      assert.equal(r.wsBytes, ws, `${r.kbps}: WebSocket`);
      assert.equal(r.oggBytes, ogg, `${r.kbps}: Ogg`);
      assert.ok(Math.abs(r.opusKbps - (packets * 8) / SECONDS / 1000) < 1e-9);
      assert.ok(Math.abs(r.wsKbps - (ws * 8) / SECONDS / 1000) < 1e-9);
      // The encoder was really run at the asked rate (VBR: the average follows the target).
      assert.ok(Math.abs(r.opusKbps / r.kbps - 1) < 0.15, `${r.kbps}: ${r.opusKbps} kb/s`);
      assert.ok(r.encodeMsMean > 0 && r.encodeMsP95 >= 0);
    }
  });
});

describe('bench:tiers helpers', () => {
  it('finds a known delay in broadband noise', () => {
    const n = 96_000;
    let seed = 12345;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const x: Stereo = { l: new Float32Array(n), r: new Float32Array(n) };
    for (let i = 0; i < n; i++) [x.l[i], x.r[i]] = [rnd(), rnd()];
    const y: Stereo = { l: new Float32Array(n), r: new Float32Array(n) };
    y.l.set(x.l.subarray(0, n - 777), 777);
    y.r.set(x.r.subarray(0, n - 777), 777);
    const d = findDelay(x, y, { start: 0, end: n });
    assert.equal(d.lagFrames, 777);
    assert.ok(d.correlation > 0.99);
  });

  it('reads the bandwidths from band energies', () => {
    const bands = thirdOctaveBands();
    assert.equal(bands.length, 30);
    assert.equal(bands[16]!.label, '1k');
    const src = new Float64Array(bands.length).fill(1);
    // Levels kept to the 8k band, nothing above; the waveform kept (residual −10 dB) only to 4k.
    const dec = src.map((_, i) => (bands[i]!.centreHz < 9000 ? 1 : 0));
    const res = src.map((_, i) => (bands[i]!.centreHz < 4500 ? 0.1 : 1));
    const c = compareBands(src, dec, res, bands);
    assert.equal(c.bandwidthHz, bands.find((b) => b.label === '8k')!.centreHz);
    assert.equal(c.codedBandwidthHz, bands.find((b) => b.label === '4k')!.centreHz);
    assert.equal(c.sourceTopHz, bands[29]!.centreHz);
    assert.equal(c.worstBandDiffDb, -120);
    assert.equal(c.bandsCounted, 30);
  });
});
