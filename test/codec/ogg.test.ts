import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { oggCrc32 } from '../../src/codec/ogg-crc.ts';
import { buildOggPage, OGG_FLAG_BOS, OGG_FLAG_CONTINUED, parseOggPages } from '../../src/codec/ogg-page.ts';
import { maxOggBytesForPayload, OggOpusMuxer } from '../../src/codec/ogg.ts';
import { OpusChunkEncoder } from '../../src/codec/opus-encoder.ts';
import { splitOpusPackets } from '../../src/codec/opus-wire.ts';
import { peakFrequency, rms, sinePlusNoise } from './signals.ts';
import { requireTool } from './tools.ts';

const CHUNK = 4800;
const SERIAL = 0x1234abcd;

/** Encodes chunks [0, lastChunk) of a 440 Hz tone; returns the muxer, header and each chunk's page and payload. */
function station(lastChunk: number, bitrate = 96_000, chunkFrames = CHUNK) {
  const enc = new OpusChunkEncoder({ bitrate });
  const mux = new OggOpusMuxer({
    serial: SERIAL,
    preSkipFrames: enc.preSkipFrames,
    sampleRate: 48_000,
    channels: 2,
    vendor: 'libopus 1.x',
    title: 'default',
  });
  const signal = sinePlusNoise(lastChunk * chunkFrames, 440, 0.4, 0.02, 7);
  const out = new Uint8Array(OpusChunkEncoder.maxBytes(chunkFrames));
  const chunks: { payload: Uint8Array; page: Uint8Array }[] = [];
  for (let c = 0; c < lastChunk; c++) {
    const at = c * chunkFrames;
    const n = enc.encode(signal.subarray(at), signal.subarray(at), chunkFrames, out, 0);
    const payload = out.slice(0, n);
    chunks.push({ payload, page: mux.pageForChunk(payload, at + chunkFrames) });
  }
  enc.close();
  return { mux, header: mux.headerPages(), chunks, preSkip: enc.preSkipFrames };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

test('the page CRC is CRC-32 poly 0x04c11db7, init 0, unreflected (check value of "123456789")', () => {
  assert.equal(oggCrc32(new TextEncoder().encode('123456789')), 0x89a1897f);
  assert.equal(oggCrc32(new Uint8Array(0)), 0);
});

test('header pages: OpusHead alone on a BOS page (seq 0, granule 0), OpusTags on seq 1', () => {
  const { header, preSkip } = station(0);
  const pages = parseOggPages(header);
  assert.equal(pages.length, 2);
  const [head, tags] = pages as [(typeof pages)[0], (typeof pages)[0]];
  assert.deepEqual([head.sequence, head.granule, head.flags, head.serial], [0, 0, OGG_FLAG_BOS, SERIAL]);
  assert.deepEqual([tags.sequence, tags.granule, tags.flags, tags.serial], [1, 0, 0, SERIAL]);
  assert.equal(head.packets.length, 1);
  const h = Buffer.from(head.packets[0]!);
  assert.equal(h.length, 19);
  assert.equal(h.toString('latin1', 0, 8), 'OpusHead');
  assert.deepEqual(
    [h[8], h[9], h.readUInt16LE(10), h.readUInt32LE(12), h.readInt16LE(16), h[18]],
    [1, 2, preSkip, 48_000, 0, 0],
  );
  const t = Buffer.from(tags.packets[0]!);
  assert.equal(t.toString('latin1', 0, 8), 'OpusTags');
  const vendorLen = t.readUInt32LE(8);
  assert.equal(t.toString('utf8', 12, 12 + vendorLen), 'libopus 1.x');
  let at = 12 + vendorLen;
  const count = t.readUInt32LE(at);
  at += 4;
  const comments: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = t.readUInt32LE(at);
    comments.push(t.toString('utf8', at + 4, at + 4 + n));
    at += 4 + n;
  }
  assert.equal(at, t.length);
  assert.deepEqual(comments, ['ENCODER=auralis', 'TITLE=default']);
});

test('audio pages: one per chunk, sequence from 2, granule = end position + pre-skip, same packets as the wire', () => {
  const { header, chunks, preSkip } = station(12);
  const pages = parseOggPages(concat([header, ...chunks.map((c) => c.page)]));
  assert.equal(pages.length, 2 + 12);
  let lastGranule = 0;
  pages.slice(2).forEach((p, i) => {
    assert.equal(p.sequence, 2 + i);
    assert.equal(p.flags, 0); // no BOS, no continuation
    assert.equal(p.serial, SERIAL);
    assert.equal(p.granule, (i + 1) * CHUNK + preSkip);
    assert.ok(p.granule > lastGranule);
    lastGranule = p.granule;
    const wire = splitOpusPackets(chunks[i]!.payload);
    assert.equal(p.packets.length, 5);
    p.packets.forEach((pkt, k) => assert.ok(Buffer.from(pkt).equals(Buffer.from(wire[k]!))));
    assert.ok(p.bytes <= maxOggBytesForPayload(chunks[i]!.payload.length));
  });
});

test('the allocation-free writer gives the same bytes as pageForChunk, and a corrupt byte fails the CRC', () => {
  const a = station(3);
  const enc = new OpusChunkEncoder();
  const mux = new OggOpusMuxer({
    serial: SERIAL,
    preSkipFrames: enc.preSkipFrames,
    sampleRate: 48_000,
    channels: 2,
    vendor: 'libopus 1.x',
    title: 'default',
  });
  const out = new Uint8Array(4000);
  for (let c = 0; c < 3; c++) {
    out.fill(0x77);
    const n = mux.writePageForChunk(a.chunks[c]!.payload, (c + 1) * CHUNK, out, 10);
    assert.ok(Buffer.from(out.subarray(10, 10 + n)).equals(Buffer.from(a.chunks[c]!.page)));
    assert.equal(out[9], 0x77);
    assert.equal(out[10 + n], 0x77);
  }
  // Parsing never modifies its input, also when it is a Buffer (whose slice() is a view).
  const asBuffer = Buffer.from(concat([a.header, a.chunks[0]!.page]));
  const snapshot = Buffer.from(asBuffer);
  assert.equal(parseOggPages(asBuffer).length, 3);
  assert.equal(parseOggPages(asBuffer.subarray(a.header.length)).length, 1);
  assert.ok(asBuffer.equals(snapshot));
  const bad = a.chunks[1]!.page.slice();
  bad[bad.length - 3]! ^= 0x40;
  assert.throws(() => parseOggPages(bad), /CRC/);
  assert.throws(() => mux.pageForChunk(Uint8Array.of(9, 0, 1), 4800), /malformed/);
});

test('a chunk too big for 255 lacing values spans pages, each with the granule of its last packet', () => {
  // 2 s chunks at 500 kbit/s: 100 packets of ~1250 bytes need ~500 lacing values.
  const { chunks, preSkip } = station(1, 500_000, 96_000);
  const pages = parseOggPages(chunks[0]!.page);
  assert.ok(pages.length >= 2, `${pages.length} pages`);
  let packets = 0;
  for (const p of pages) {
    assert.ok(p.segments.length <= 255);
    packets += p.packets.length;
    assert.equal(p.granule, packets * 960 + preSkip);
    assert.equal(p.flags & OGG_FLAG_CONTINUED, 0);
  }
  assert.equal(packets, 100);
  assert.ok(chunks[0]!.page.length <= maxOggBytesForPayload(chunks[0]!.payload.length));
});

test('the parser reassembles a packet continued across pages', () => {
  const big = new Uint8Array(300).map((_, i) => i & 0xff);
  const p1 = buildOggPage(0, -1 >>> 0, 1, 0, []);
  assert.equal(parseOggPages(p1)[0]!.packets.length, 0);
  // Hand-made: 255 + 45 split as one full segment on page A, the rest on page B (continued).
  const a = buildOggPage(0, 0, 1, 0, [big.subarray(0, 255)]);
  // buildOggPage always terminates packets; patch A's lacing to [255] only to continue it.
  const aBytes = new Uint8Array(27 + 1 + 255);
  aBytes.set(a.subarray(0, 27));
  aBytes[26] = 1;
  aBytes[27] = 255;
  aBytes.set(big.subarray(0, 255), 28);
  aBytes.fill(0, 22, 26);
  const crcA = oggCrc32(aBytes);
  new DataView(aBytes.buffer).setUint32(22, crcA, true);
  const b = buildOggPage(OGG_FLAG_CONTINUED, 300, 1, 1, [big.subarray(255)]);
  const pages = parseOggPages(concat([aBytes, b]));
  assert.equal(pages[0]!.continues, true);
  assert.equal(pages[0]!.packets.length, 0);
  assert.equal(pages[1]!.packets.length, 1);
  assert.ok(Buffer.from(pages[1]!.packets[0]!).equals(Buffer.from(big)));
  assert.throws(() => parseOggPages(b), /never started/);
});

test('ffprobe/ffmpeg accept header pages followed by mid-stream pages, with no warnings', (t) => {
  if (!requireTool(t, 'ffmpeg')) return;
  // A listener who joins at chunk 50 (5 s into the station) and hears 20 chunks (2 s).
  const joinChunk = 50;
  const { header, chunks, preSkip } = station(joinChunk + 20);
  const file = concat([header, ...chunks.slice(joinChunk).map((c) => c.page)]);
  const dir = mkdtempSync(join(tmpdir(), 'auralis-ogg-'));
  try {
    const path = join(dir, 'mid.ogg');
    writeFileSync(path, file);
    const probe = spawnSync(
      'ffprobe',
      [
        '-v',
        'warning',
        '-show_entries',
        'stream=codec_name,sample_rate,channels,start_time',
        '-of',
        'json',
        path,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(probe.status, 0, probe.stderr);
    assert.equal(probe.stderr.trim(), '');
    const st = JSON.parse(probe.stdout).streams[0];
    assert.deepEqual([st.codec_name, st.sample_rate, st.channels], ['opus', '48000', 2]);
    // Players start the clock at the join point: 5 s (ffprobe counts the pre-skip in).
    assert.ok(
      Math.abs(Number(st.start_time) - (joinChunk * CHUNK) / 48_000) < 0.02,
      `start ${st.start_time}`,
    );

    const dec = spawnSync(
      'ffmpeg',
      ['-v', 'warning', '-i', path, '-f', 's16le', '-ac', '2', '-ar', '48000', '-'],
      {
        maxBuffer: 1 << 26,
      },
    );
    assert.equal(dec.status, 0, String(dec.stderr));
    assert.equal(String(dec.stderr).trim(), ''); // a bad CRC or lacing would print "CRC mismatch!" etc.
    const frames = dec.stdout.length / 4;
    // Every page decoded; the decoder drops the pre-skip from the first page it sees.
    assert.equal(frames, 20 * CHUNK - preSkip);
    const left = new Float32Array(frames);
    for (let i = 0; i < frames; i++) left[i] = dec.stdout.readInt16LE(4 * i) / 32767;
    assert.equal(peakFrequency(left, 9600, 32_768), 440);
    assert.ok(Math.abs(rms(left, 9600, 9600 + 32_768) - 0.4 / Math.SQRT2) < 0.03);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
