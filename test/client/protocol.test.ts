import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHUNK_HEADER_BYTES, parseChunk } from '../../client/src/protocol/chunk-header.ts';
import { parseServerMessage } from '../../client/src/protocol/messages.ts';
import { framesPerPacket, splitOpusPackets } from '../../client/src/protocol/opus-packets.ts';
import { decodePcm16 } from '../../client/src/protocol/pcm16.ts';
import { writeFrameHeader } from '../../src/codec/frame-header.ts';

describe('wire chunks (PROTOCOL.md)', () => {
  it('parses every header field at its documented offset, little-endian', () => {
    const buf = new ArrayBuffer(CHUNK_HEADER_BYTES + 4);
    const v = new DataView(buf);
    v.setUint8(0, 1);
    v.setUint8(1, 1);
    v.setUint8(2, 2);
    v.setUint8(3, 1);
    v.setUint32(4, 48_000, true);
    v.setUint32(8, 0xfffffffe, true);
    v.setUint32(12, 4800, true);
    v.setFloat64(16, 2 ** 40 + 3, true);
    v.setFloat64(24, 1_790_000_000_123.5, true);
    const r = parseChunk(buf);
    assert.ok(r.ok);
    assert.deepEqual(r.header, {
      version: 1,
      codec: 'opus',
      channels: 2,
      discontinuity: true,
      sampleRate: 48_000,
      sequence: 0xfffffffe,
      frames: 4800,
      positionFrames: 2 ** 40 + 3,
      serverPlayTimeMs: 1_790_000_000_123.5,
    });
    assert.equal(r.payload.byteLength, 4);
    assert.equal(r.payload.byteOffset, CHUNK_HEADER_BYTES, 'a view, not a copy');
  });

  it("reads headers written by the server's own writer (src/codec/frame-header.ts) identically", () => {
    const bytes = new Uint8Array(CHUNK_HEADER_BYTES + 8);
    writeFrameHeader(bytes, 0, {
      version: 1,
      codec: 0,
      channels: 2,
      flags: 1,
      sampleRate: 48_000,
      sequence: 4_000_000_000,
      frames: 960,
      positionFrames: 123_456_789,
      playTimeMs: 1_790_000_000_000.5,
    });
    const r = parseChunk(bytes.buffer);
    assert.ok(r.ok);
    assert.equal(r.header.codec, 'pcm');
    assert.equal(r.header.discontinuity, true);
    assert.equal(r.header.sequence, 4_000_000_000);
    assert.equal(r.header.frames, 960);
    assert.equal(r.header.positionFrames, 123_456_789);
    assert.equal(r.header.serverPlayTimeMs, 1_790_000_000_000.5);
    assert.equal(r.payload.byteLength, 8);
  });

  it('rejects short, unknown-version and unknown-codec chunks without throwing', () => {
    assert.equal(parseChunk(new ArrayBuffer(10)).ok, false);
    const bad = new ArrayBuffer(32);
    new DataView(bad).setUint8(0, 2);
    assert.equal(parseChunk(bad).ok, false);
    const badCodec = new ArrayBuffer(32);
    new DataView(badCodec).setUint8(0, 1);
    new DataView(badCodec).setUint8(1, 9);
    assert.equal(parseChunk(badCodec).ok, false);
  });

  it('splits an Opus payload into u16-length-prefixed packet views and rejects overruns', () => {
    const payload = new Uint8Array([3, 0, 10, 11, 12, 1, 0, 99]);
    const r = splitOpusPackets(payload);
    assert.ok(r.ok);
    assert.deepEqual(
      r.packets.map((p) => [...p]),
      [[10, 11, 12], [99]],
    );
    assert.equal(splitOpusPackets(new Uint8Array([5, 0, 1, 2])).ok, false);
    assert.equal(splitOpusPackets(new Uint8Array([1])).ok, false);
    assert.equal(framesPerPacket(48_000), 960);
  });

  it('converts interleaved s16le to planar floats', () => {
    const pcm = new Int16Array([32767, -32768, 0, 16384]);
    const [l, r] = decodePcm16(new Uint8Array(pcm.buffer), 2, 2);
    assert.deepEqual([...l], [32767 / 32768, 0]);
    assert.deepEqual([...r], [-1, 0.5]);
    // A truncated payload yields only the whole frames it holds.
    assert.equal(decodePcm16(new Uint8Array(pcm.buffer, 0, 6), 2, 2)[0].length, 1);
  });

  it('parses the server messages and turns garbage into null', () => {
    const w = parseServerMessage(
      JSON.stringify({
        type: 'welcome',
        protocol: 1,
        station: 'default',
        personal: false,
        params: { key: 'A', mode: 'aeolian', bpm: 70, intensity: 0.5 },
        sampleRate: 48_000,
        channels: 2,
        codec: 'opus',
        chunkMs: 100,
        position: 0,
      }),
    );
    assert.equal(w?.type, 'welcome');
    assert.equal(parseServerMessage('{"type":"pong","t":5}')?.type, 'pong');
    assert.equal(
      parseServerMessage('{"type":"error","code":"X","message":"m","field":"bpm"}')?.type,
      'error',
    );
    assert.equal(parseServerMessage('not json'), null);
    assert.equal(parseServerMessage('{"type":"params"}'), null);
    assert.equal(parseServerMessage('{"type":"mystery"}'), null);
    assert.equal(parseServerMessage('[1,2]'), null);
  });

  it('parses the bitrate tiers: welcome.tiers/bitrate and the bitrate answer', () => {
    const welcome = {
      type: 'welcome',
      protocol: 1,
      station: 'default',
      personal: false,
      params: { key: 'A', mode: 'aeolian', bpm: 70, intensity: 0.5 },
      sampleRate: 48_000,
      channels: 2,
      codec: 'opus',
      chunkMs: 100,
      position: 0,
    };
    const w = parseServerMessage(JSON.stringify({ ...welcome, tiers: [24, 48, 96, 160], bitrate: 96 }));
    assert.ok(w?.type === 'welcome');
    assert.deepEqual(w.tiers, [24, 48, 96, 160]);
    assert.equal(w.bitrate, 96);
    const pcm = parseServerMessage(JSON.stringify({ ...welcome, codec: 'pcm', tiers: [], bitrate: null }));
    assert.ok(pcm?.type === 'welcome' && pcm.bitrate === null && pcm.tiers?.length === 0);
    assert.equal(parseServerMessage(JSON.stringify({ ...welcome, tiers: ['24'] })), null);
    assert.equal(parseServerMessage(JSON.stringify({ ...welcome, bitrate: '96' })), null);
    const b = parseServerMessage('{"type":"bitrate","kbps":48,"fromSeq":1234}');
    assert.ok(b?.type === 'bitrate');
    assert.equal(b.kbps, 48);
    assert.equal(b.fromSeq, 1234);
    assert.equal(parseServerMessage('{"type":"bitrate","kbps":48}'), null);
  });

  it('parses the sleep timer messages (set, ended) and refuses one without either', () => {
    const set = parseServerMessage('{"type":"sleep","minutes":30,"endsAtMs":1000}');
    assert.ok(set && set.type === 'sleep');
    assert.equal(set.minutes, 30);
    assert.equal(set.endsAtMs, 1000);
    const ended = parseServerMessage('{"type":"sleep","ended":true}');
    assert.ok(ended && ended.type === 'sleep' && ended.ended === true);
    assert.equal(parseServerMessage('{"type":"sleep"}'), null);
  });
});
