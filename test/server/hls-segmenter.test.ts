// The HLS pieces without a server: playlist text, the ID3 tag of a segment, the segmenter's
// windows and bounds, its lease (src/server/hls/).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CODEC_PCM_S16LE, FLAG_DISCONTINUITY, writeFrameHeader } from '../../src/codec/frame-header.ts';
import { ChunkRing, WS_PREFIX_BYTES } from '../../src/engine/ring.ts';
import { opusInitSegment } from '../../src/server/hls/fmp4.ts';
import { id3Tag, TIMESTAMP_WRAP } from '../../src/server/hls/id3.ts';
import { parseId3, privTimestamp } from './id3-parse.ts';
import { masterPlaylist, MP3_CODECS, targetDurationFor } from '../../src/server/hls/playlist.ts';
import {
  chunksPerSegment,
  HlsSegmenter,
  KEPT_SEGMENTS,
  PLAYLIST_SEGMENTS,
} from '../../src/server/hls/segmenter.ts';

const FRAME_BYTES = 384; // MPEG-1 Layer III, 128 kb/s, 48 kHz, no padding
const CHUNK_FRAMES = 4800;
const EPOCH_MS = 1_790_000_000_000;

/**
 * A ring whose chunks carry `frames[seq]` fake MP3 frames (valid headers, 384 bytes each; 0: no
 * MP3) and a chunk header with the station's play time.
 */
function fakeEngine(chunkMs = 100) {
  const chunkFrames = (chunkMs * 48_000) / 1000;
  const ring = ChunkRing.create(64, chunkFrames);
  return {
    ring,
    startMonoMs: 1000,
    wallOffsetMs: EPOCH_MS - 1000,
    chunkFrames,
    chunkMs,
    publish(seq: number, frames: number, flags = 0): void {
      const at = ring.mp3Region(seq);
      for (let f = 0; f < frames; f++) {
        const p = at + f * FRAME_BYTES;
        ring.bytes.set([0xff, 0xfb, 0x94, 0x00], p);
        ring.bytes[p + 4] = seq & 0xff; // something to compare
      }
      // The chunk header, in the PCM frame and (with the Opus encoder's own flag) in the Opus one.
      for (const at of [ring.pcmRegion(seq), ring.opusRegion(seq)]) {
        writeFrameHeader(ring.bytes, at + WS_PREFIX_BYTES, {
          version: 1,
          codec: CODEC_PCM_S16LE,
          channels: 2,
          flags,
          sampleRate: 48_000,
          sequence: seq,
          frames: chunkFrames,
          positionFrames: seq * chunkFrames,
          playTimeMs: EPOCH_MS + seq * chunkMs,
        });
      }
      // Opus: 20 ms packets as on the wire (u16 little-endian length, bytes), sizes varying.
      const payload = ring.opusRegion(seq) + WS_PREFIX_BYTES + 32;
      let pos = payload;
      for (let k = 0; k < chunkFrames / 960; k++) {
        const size = opusPacketSize(seq, k);
        ring.bytes[pos] = size & 0xff;
        ring.bytes[pos + 1] = size >> 8;
        ring.bytes.fill((seq * 7 + k) & 0xff, pos + 2, pos + 2 + size);
        pos += 2 + size;
      }
      const opusStart = ring.opusRegion(seq) + WS_PREFIX_BYTES - 2;
      ring.publish(seq, opusStart, pos - opusStart, 0, 0, 0, frames * FRAME_BYTES);
    },
  };
}

function opusPacketSize(seq: number, k: number): number {
  return 100 + ((seq * 5 + k) % 57);
}

/** LAME's pattern at 100 ms chunks: 4 or 5 whole frames a chunk, 125 in every 30 chunks. */
function framesOf(seq: number): number {
  return Math.floor(((seq + 1) * CHUNK_FRAMES) / 1152) - Math.floor((seq * CHUNK_FRAMES) / 1152);
}

function segmenter(engine: ReturnType<typeof fakeEngine>, leaseMs = 60_000, onExpired = () => {}) {
  let n = 0;
  return new HlsSegmenter({
    engine,
    now: () => ({ title: `Auralis default: focus, D dorian, chord C${n}`, json: JSON.stringify({ n: n++ }) }),
    minMsn: 0,
    leaseMs,
    onExpired,
  });
}

/** The boxes (ISO BMFF) between `from` and `to`: type and extent, sizes checked. */
function parseBoxes(b: Buffer, from: number, to: number): { type: string; start: number; end: number }[] {
  const out: { type: string; start: number; end: number }[] = [];
  for (let at = from; at < to;) {
    const size = b.readUInt32BE(at);
    assert.ok(size >= 8 && at + size <= to, `box at ${at}: size ${size}`);
    out.push({ type: b.subarray(at + 4, at + 8).toString('latin1'), start: at, end: at + size });
    at += size;
  }
  return out;
}

interface Parsed {
  version: number;
  target: number;
  msn: number;
  discontinuitySeq: number;
  segments: { uri: string; extinf: number; pdt: number; discontinuity: boolean }[];
}

function parsePlaylist(text: string): Parsed {
  const lines = text.trim().split('\n');
  assert.equal(lines[0], '#EXTM3U');
  const out: Parsed = { version: 0, target: 0, msn: -1, discontinuitySeq: 0, segments: [] };
  let extinf = -1;
  let pdt = NaN;
  let disc = false;
  for (const line of lines.slice(1)) {
    let m: RegExpExecArray | null;
    if ((m = /^#EXT-X-VERSION:(\d+)$/.exec(line))) out.version = Number(m[1]);
    else if ((m = /^#EXT-X-TARGETDURATION:(\d+)$/.exec(line))) out.target = Number(m[1]);
    else if ((m = /^#EXT-X-MEDIA-SEQUENCE:(\d+)$/.exec(line))) out.msn = Number(m[1]);
    else if ((m = /^#EXT-X-DISCONTINUITY-SEQUENCE:(\d+)$/.exec(line))) out.discontinuitySeq = Number(m[1]);
    else if (line === '#EXT-X-DISCONTINUITY') disc = true;
    else if ((m = /^#EXT-X-PROGRAM-DATE-TIME:(.+)$/.exec(line))) pdt = Date.parse(m[1]!);
    else if ((m = /^#EXTINF:([0-9.]+),$/.exec(line))) extinf = Number(m[1]);
    else if (line === '#EXT-X-INDEPENDENT-SEGMENTS') continue;
    else if (!line.startsWith('#')) {
      assert.ok(extinf > 0 && Number.isFinite(pdt), `EXTINF and PROGRAM-DATE-TIME before ${line}`);
      out.segments.push({ uri: line, extinf, pdt, discontinuity: disc });
      extinf = -1;
      pdt = NaN;
      disc = false;
    } else assert.fail(`unexpected line ${line}`);
  }
  return out;
}

describe('HLS playlists', () => {
  it('the master playlist names the MP3 rendition with its codec and bandwidth', () => {
    const text = masterPlaylist([
      {
        uri: 'default/mp3.m3u8',
        bandwidth: 130_560,
        averageBandwidth: 129_280,
        codecs: MP3_CODECS,
        name: 'MP3',
      },
    ]);
    assert.match(text, /^#EXTM3U\n#EXT-X-VERSION:([6-9]|\d\d)\n#EXT-X-INDEPENDENT-SEGMENTS\n/);
    assert.match(
      text,
      /#EXT-X-STREAM-INF:BANDWIDTH=130560,AVERAGE-BANDWIDTH=129280,CODECS="mp4a\.40\.34"\ndefault\/mp3\.m3u8\n$/,
    );
  });

  it('segment lengths: a whole number of chunks nearest 3 s, within 2-4 s', () => {
    for (const chunkMs of [20, 40, 100, 120, 200, 300, 500, 700, 900, 1000]) {
      const n = chunksPerSegment(chunkMs);
      assert.ok(n * chunkMs >= 2000 && n * chunkMs <= 4000, `${chunkMs} ms: ${n} chunks`);
      for (const other of [n - 1, n + 1]) {
        const ok = other * chunkMs >= 2000 && other * chunkMs <= 4000;
        if (ok)
          assert.ok(Math.abs(other * chunkMs - 3000) >= Math.abs(n * chunkMs - 3000), `${chunkMs}: ${other}`);
      }
    }
    assert.equal(chunksPerSegment(100), 30);
    assert.equal(targetDurationFor(3.024), 3);
    assert.equal(targetDurationFor(2.5), 3);
  });

  it('a live window: version, target duration, increasing media sequence, program date-times and timestamps that follow the frames', () => {
    const engine = fakeEngine();
    const seg = segmenter(engine);
    try {
      assert.equal(seg.playlist(), null, 'no playlist before the first segment');
      // MP3 starts at chunk 7 (a partial first segment), then 10 segments more.
      for (let seq = 0; seq < 7; seq++) {
        engine.publish(seq, 0);
        seg.chunk(seq);
      }
      let previous: Parsed | null = null;
      for (let seq = 7; seq < 330; seq++) {
        engine.publish(seq, framesOf(seq));
        seg.chunk(seq);
        if ((seq + 1) % 30 !== 0) continue;
        const p = parsePlaylist(seg.playlist()!);
        assert.ok(p.version >= 6);
        assert.ok(p.segments.length <= PLAYLIST_SEGMENTS);
        for (const s of p.segments)
          assert.ok(Math.round(s.extinf) <= p.target, `EXTINF ${s.extinf} > ${p.target}`);
        assert.equal(p.target, 3);
        if (previous) {
          assert.ok(p.msn >= previous.msn, 'the media sequence never goes back');
          const last = p.segments.at(-1)!;
          assert.notEqual(last.uri, previous.segments.at(-1)!.uri, 'a new segment');
        }
        for (let i = 1; i < p.segments.length; i++) {
          const a = p.segments[i - 1]!;
          const b = p.segments[i]!;
          assert.ok(
            Math.abs(b.pdt - (a.pdt + a.extinf * 1000)) <= 1,
            'each date-time follows the previous segment',
          );
          assert.equal(b.discontinuity, false);
        }
        previous = p;
      }
      const kept = seg.segments;
      assert.equal(kept.length, KEPT_SEGMENTS, 'bounded in count');
      assert.ok(seg.bytesKept <= KEPT_SEGMENTS * seg.maxSegmentBytes, 'bounded in bytes');
      assert.equal(
        seg.bytesKept,
        kept.reduce((n, s) => n + s.bytes.length, 0),
      );
      assert.equal(previous!.msn, kept.at(-PLAYLIST_SEGMENTS)!.msn);
      assert.equal(previous!.msn + PLAYLIST_SEGMENTS - 1, 10, 'media sequence numbers are consecutive');
      // The first segment (chunks 7-29) was partial: 3 s segments after it, 125 frames each.
      for (const s of kept) {
        assert.equal(s.frames, 125);
        assert.equal(s.durationS, 3);
        assert.equal(s.firstSeq % 30, 0);
        assert.equal(s.uri, `${EPOCH_MS}/${s.firstSeq}.mp3`);
        // Timestamps: the run starts at chunk 7's play time and advances by 2160 ticks a frame.
        const framesBefore = [...Array(s.firstSeq - 7).keys()].reduce((n, i) => n + framesOf(i + 7), 0);
        assert.equal(s.timestamp90k, 7 * 100 * 90 + framesBefore * 2160);
        assert.equal(s.programDateMs, EPOCH_MS + 700 + framesBefore * 24);
        // The bytes: an ID3 tag, then exactly the chunks' MP3 frames in order.
        const id3 = parseId3(s.bytes);
        assert.equal(id3.version, 4);
        assert.equal(privTimestamp(id3.frames.get('PRIV')!), s.timestamp90k);
        const audio = s.bytes.subarray(id3.size);
        assert.equal(audio.length, 125 * FRAME_BYTES);
        assert.equal(audio[4], s.firstSeq & 0xff);
        assert.equal(audio.at(-FRAME_BYTES + 4), (s.firstSeq + 29) & 0xff);
      }
    } finally {
      seg.close();
    }
  });

  it('a gap ends the segment early; the next one is a discontinuity with a new timestamp anchor', () => {
    const engine = fakeEngine();
    const seg = segmenter(engine);
    try {
      for (let seq = 0; seq < 45; seq++) {
        engine.publish(seq, framesOf(seq));
        seg.chunk(seq);
      }
      // Chunk 45 was never published (a worker restart skipped it); 46 carries the flag.
      for (let seq = 46; seq < 120; seq++) {
        engine.publish(seq, framesOf(seq), seq === 46 ? FLAG_DISCONTINUITY : 0);
        seg.chunk(seq);
      }
      const p = parsePlaylist(seg.playlist()!);
      assert.deepEqual(
        p.segments.map((s) => [s.uri.split('/')[1], s.discontinuity]),
        [
          ['0.mp3', false],
          ['30.mp3', false],
          ['46.mp3', true],
          ['60.mp3', false],
          ['90.mp3', false],
        ],
      );
      const s46 = seg.segment(46)!;
      assert.equal(s46.timestamp90k, 46 * 100 * 90, 'anchored at its own chunk header');
      assert.equal(s46.programDateMs, EPOCH_MS + 4600);
      assert.equal(seg.segment(30)!.frames, Math.floor((45 * 4800) / 1152) - Math.floor((30 * 4800) / 1152));
      assert.equal(seg.segment(45), undefined);
      // Chunks without MP3 bytes (the encoder off, or it failed) break the run too.
      for (let seq = 120; seq < 180; seq++) {
        engine.publish(seq, seq === 130 ? 0 : framesOf(seq));
        seg.chunk(seq);
      }
      const q = parsePlaylist(seg.playlist()!);
      assert.deepEqual(
        q.segments.map((s) => [s.uri.split('/')[1], s.discontinuity]),
        [
          ['46.mp3', true],
          ['60.mp3', false],
          ['90.mp3', false],
          ['120.mp3', false],
          ['131.mp3', true],
          ['150.mp3', false],
        ],
      );
      // Media sequence numbers stay consecutive across gaps (a playlist numbers segments by index).
      const kept = seg.segments;
      for (let i = 1; i < kept.length; i++) assert.equal(kept[i]!.msn, kept[i - 1]!.msn + 1);
      // Once the first discontinuity slides out, the playlist counts it.
      for (let seq = 180; seq < 210; seq++) {
        engine.publish(seq, framesOf(seq));
        seg.chunk(seq);
      }
      const r = parsePlaylist(seg.playlist()!);
      assert.equal(r.segments[0]!.uri.split('/')[1], '60.mp3');
      assert.equal(r.discontinuitySeq, 1);
      // A long gap (MP3 off for 20 s): the numbering goes on from the last segment, not the grid.
      const last = seg.segments.at(-1)!.msn;
      for (let seq = 400; seq < 420; seq++) {
        engine.publish(seq, framesOf(seq));
        seg.chunk(seq);
      }
      assert.equal(seg.segment(400)!.msn, last + 1);
      assert.equal(seg.segment(400)!.discontinuity, true);
    } finally {
      seg.close();
    }
  });

  it('Opus in fragmented MP4: an init segment with dOps, and per segment a moof (tfdt, trun sizes) and mdat of the packets', () => {
    const engine = fakeEngine();
    const seg = new HlsSegmenter({
      codec: 'opus',
      engine,
      now: () => assert.fail('fMP4 segments carry no title'),
      minMsn: 0,
      leaseMs: 60_000,
      onExpired: () => {},
    });
    try {
      for (let seq = 3; seq < 120; seq++) {
        // Chunk 75 was encoded again by a rebuilt Opus encoder: flagged in its Opus header.
        engine.publish(seq, framesOf(seq), seq === 75 ? FLAG_DISCONTINUITY : 0);
        seg.chunk(seq);
      }
      const p = parsePlaylist(seg.playlist()!.replace(/^#EXT-X-MAP:URI="([^"]+)"\n/m, ''));
      assert.match(seg.playlist()!, new RegExp(`#EXT-X-MAP:URI="${EPOCH_MS}/init\\.mp4"\n`));
      assert.deepEqual(
        p.segments.map((s) => [s.uri, s.extinf, s.discontinuity]),
        [
          [`${EPOCH_MS}/3.m4s`, 2.7, false],
          [`${EPOCH_MS}/30.m4s`, 3, false],
          [`${EPOCH_MS}/60.m4s`, 1.5, false],
          [`${EPOCH_MS}/75.m4s`, 1.5, true],
          [`${EPOCH_MS}/90.m4s`, 3, false],
        ],
      );
      for (const s of seg.segments) {
        const boxes = parseBoxes(s.bytes, 0, s.bytes.length);
        assert.deepEqual(
          boxes.map((b) => b.type),
          ['moof', 'mdat'],
        );
        const moof = boxes[0]!;
        const [mfhd, traf] = parseBoxes(s.bytes, moof.start + 8, moof.end);
        assert.equal(mfhd!.type, 'mfhd');
        assert.equal(s.bytes.readUInt32BE(mfhd!.start + 12), s.msn + 1);
        const [tfhd, tfdt, trun] = parseBoxes(s.bytes, traf!.start + 8, traf!.end);
        assert.deepEqual([tfhd!.type, tfdt!.type, trun!.type], ['tfhd', 'tfdt', 'trun']);
        assert.equal(s.bytes[tfdt!.start + 8], 1, 'tfdt version 1 (64-bit time)');
        const time =
          s.bytes.readUInt32BE(tfdt!.start + 12) * 2 ** 32 + s.bytes.readUInt32BE(tfdt!.start + 16);
        assert.equal(time, s.firstSeq * 4800, 'the decode time is the station position in samples');
        const count = s.bytes.readUInt32BE(trun!.start + 12);
        const chunks = s.firstSeq === 3 ? 27 : s.firstSeq === 60 || s.firstSeq === 75 ? 15 : 30;
        assert.equal(count, chunks * 5);
        assert.equal(s.durationS, count * 0.02);
        const dataOffset = s.bytes.readInt32BE(trun!.start + 16);
        const mdat = boxes[1]!;
        assert.equal(moof.start + dataOffset, mdat.start + 8, 'the data offset points at the first packet');
        // Every packet's size and bytes, in order.
        let at = mdat.start + 8;
        for (let i = 0; i < count; i++) {
          const seq = s.firstSeq + Math.floor(i / 5);
          const size = s.bytes.readUInt32BE(trun!.start + 20 + i * 4);
          assert.equal(size, opusPacketSize(seq, i % 5));
          assert.ok(s.bytes.subarray(at, at + size).every((b) => b === ((seq * 7 + (i % 5)) & 0xff)));
          at += size;
        }
        assert.equal(at, s.bytes.length);
      }
      assert.ok(seg.bytesKept <= KEPT_SEGMENTS * seg.maxSegmentBytes);
    } finally {
      seg.close();
    }
    const init = opusInitSegment(2, 312);
    const top = parseBoxes(init, 0, init.length);
    assert.deepEqual(
      top.map((b) => b.type),
      ['ftyp', 'moov'],
    );
    const dOps = init.indexOf('dOps');
    assert.ok(dOps > 0);
    assert.equal(init.readUInt32BE(dOps - 4), 8 + 11);
    assert.equal(init[dOps + 4], 0, 'version');
    assert.equal(init[dOps + 5], 2, 'channels');
    assert.equal(init.readUInt16BE(dOps + 6), 312, 'pre-skip');
    assert.equal(init.readUInt32BE(dOps + 8), 48_000);
    assert.ok(init.includes('mvex') && init.includes('trex'));
  });

  it('the ID3 tag: PRIV timestamp (33 bits), TIT2 title and TXXX now-playing JSON, parsed back', () => {
    for (const ts of [0, 123_456, 2 ** 32 + 5, TIMESTAMP_WRAP - 1, TIMESTAMP_WRAP + 7]) {
      const tag = id3Tag(ts, 'Auralis default: focus, D dorian, chord Dm7 ♪', '{"chord":"Dm7"}');
      const id3 = parseId3(tag);
      assert.equal(id3.size, tag.length);
      assert.equal(privTimestamp(id3.frames.get('PRIV')!), ts % TIMESTAMP_WRAP);
      const tit2 = id3.frames.get('TIT2')!;
      assert.equal(tit2[0], 3, 'UTF-8');
      assert.equal(tit2.subarray(1).toString('utf8'), 'Auralis default: focus, D dorian, chord Dm7 ♪');
      const txxx = id3.frames.get('TXXX')!;
      assert.equal(txxx[0], 3);
      const [desc, value] = txxx.subarray(1).toString('utf8').split('\0');
      assert.equal(desc, 'auralis-now');
      assert.deepEqual(JSON.parse(value!), { chord: 'Dm7' });
    }
    // Overlong texts are cut, never past the tag's bound.
    const long = parseId3(id3Tag(0, 'é'.repeat(5000), 'x'.repeat(10_000)));
    assert.ok(long.frames.get('TIT2')!.length <= 4097);
    assert.ok(Buffer.from(long.frames.get('TIT2')!.subarray(1)).toString('utf8').endsWith('é'));
  });

  it('the lease: expires leaseMs after the last renewal (at least 2 target durations), once; close stops it', async () => {
    const engine = fakeEngine(20); // 150 chunks a segment
    let expired = 0;
    const seg = segmenter(engine, 500, () => expired++);
    assert.equal(seg.leaseMs, 6000, 'raised to two target durations of 3 s');
    seg.close();
    assert.equal(expired, 0, 'closed before it expired: never called');
    // Renewed every second for 2.5 s, then left alone: it expires 6 s after the last renewal.
    const live = segmenter(fakeEngine(), 6000, () => expired++);
    const started = Date.now();
    const renew = setInterval(() => live.renew(), 1000);
    await new Promise((r) => setTimeout(r, 2500));
    clearInterval(renew);
    live.renew();
    while (expired === 0 && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 100));
    assert.equal(expired, 1);
    assert.ok(Date.now() - started >= 2500 + 6000 - 50, 'not before leaseMs after the last renewal');
    live.close();
  });
});
