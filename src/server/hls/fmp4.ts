/**
 * Fragmented MP4 (ISO BMFF, CMAF-style) for the HLS Opus rendition: the init segment (`ftyp` +
 * `moov` with one Opus track, `dOps` included, and `mvex`) and each media segment's `moof` + `mdat`
 * header around the Opus packets. Boxes are big-endian; built once per segment, never per chunk.
 */

export const OPUS_TIMESCALE = 48_000;
export const OPUS_PACKET_SAMPLES = 960;
const TRACK_ID = 1;

function box(type: string, ...parts: Buffer[]): Buffer {
  const size = 8 + parts.reduce((n, p) => n + p.length, 0);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(size, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, ...parts], size);
}

/** A "full box": version and 24-bit flags before the fields. */
function fullBox(type: string, version: number, flags: number, ...parts: Buffer[]): Buffer {
  const vf = Buffer.alloc(4);
  vf.writeUInt32BE(((version & 0xff) << 24) | (flags & 0xffffff), 0);
  return box(type, vf, ...parts);
}

function u32s(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

const MATRIX = u32s(0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000);

/** The init segment: `ftyp`, then `moov` (mvhd, one audio trak with an Opus sample entry and dOps, mvex/trex). */
export function opusInitSegment(channels: number, preSkip: number): Buffer {
  const ftyp = box('ftyp', Buffer.from('iso6', 'latin1'), u32s(0), Buffer.from('iso6cmfcmp41', 'latin1'));
  const mvhd = fullBox(
    'mvhd',
    0,
    0,
    u32s(0, 0, OPUS_TIMESCALE, 0, 0x00010000),
    Buffer.from([0x01, 0x00, 0, 0]), // volume 1.0, reserved
    u32s(0, 0),
    MATRIX,
    u32s(0, 0, 0, 0, 0, 0),
    u32s(TRACK_ID + 1),
  );
  const tkhd = fullBox(
    'tkhd',
    0,
    3, // enabled, in movie
    u32s(0, 0, TRACK_ID, 0, 0, 0, 0),
    Buffer.from([0, 0, 0, 0, 0x01, 0x00, 0, 0]), // layer, alternate group, volume 1.0, reserved
    MATRIX,
    u32s(0, 0),
  );
  const mdhd = fullBox('mdhd', 0, 0, u32s(0, 0, OPUS_TIMESCALE, 0), Buffer.from([0x55, 0xc4, 0, 0])); // 'und'
  const hdlr = fullBox(
    'hdlr',
    0,
    0,
    u32s(0),
    Buffer.from('soun', 'latin1'),
    u32s(0, 0, 0),
    Buffer.from('Auralis Opus\0', 'latin1'),
  );
  const dOps = Buffer.alloc(11);
  dOps[0] = 0; // version
  dOps[1] = channels;
  dOps.writeUInt16BE(preSkip, 2);
  dOps.writeUInt32BE(OPUS_TIMESCALE, 4); // input sample rate
  dOps.writeInt16BE(0, 8); // output gain
  dOps[10] = 0; // channel mapping family 0 (mono or stereo)
  const entry = Buffer.alloc(28);
  entry.writeUInt16BE(1, 6); // data reference index
  entry.writeUInt16BE(channels, 16);
  entry.writeUInt16BE(16, 18); // sample size
  entry.writeUInt32BE(OPUS_TIMESCALE * 65536, 24); // 16.16 sample rate
  const opus = box('Opus', entry, box('dOps', dOps));
  const stbl = box(
    'stbl',
    fullBox('stsd', 0, 0, u32s(1), opus),
    fullBox('stts', 0, 0, u32s(0)),
    fullBox('stsc', 0, 0, u32s(0)),
    fullBox('stsz', 0, 0, u32s(0, 0)),
    fullBox('stco', 0, 0, u32s(0)),
  );
  const dinf = box('dinf', fullBox('dref', 0, 0, u32s(1), fullBox('url ', 0, 1)));
  const minf = box('minf', fullBox('smhd', 0, 0, u32s(0)), dinf, stbl);
  const trak = box('trak', tkhd, box('mdia', mdhd, hdlr, minf));
  const mvex = box('mvex', fullBox('trex', 0, 0, u32s(TRACK_ID, 1, OPUS_PACKET_SAMPLES, 0, 0)));
  return Buffer.concat([ftyp, box('moov', mvhd, trak, mvex)]);
}

/**
 * The `moof` and the `mdat` header of a media segment: `count` Opus packets of `sizes` bytes
 * (960 samples each), the first at `baseMediaDecodeTime` (samples), fragment `sequence`.
 * `mdatBytes` is the sum of the sizes. The packets follow the returned bytes.
 */
export function opusFragmentHeader(
  sequence: number,
  baseMediaDecodeTime: number,
  sizes: Uint32Array,
  count: number,
  mdatBytes: number,
): Buffer {
  const mfhd = fullBox('mfhd', 0, 0, u32s(sequence));
  // default-base-is-moof, default sample duration present
  const tfhd = fullBox('tfhd', 0, 0x020008, u32s(TRACK_ID, OPUS_PACKET_SAMPLES));
  const tfdt = fullBox(
    'tfdt',
    1,
    0,
    u32s(Math.floor(baseMediaDecodeTime / 2 ** 32), baseMediaDecodeTime % 2 ** 32),
  );
  const trunFields = Buffer.alloc(8 + count * 4);
  trunFields.writeUInt32BE(count, 0);
  for (let i = 0; i < count; i++) trunFields.writeUInt32BE(sizes[i]!, 8 + i * 4);
  // data offset present, sample size present
  const trun = fullBox('trun', 0, 0x000201, trunFields);
  const moof = box('moof', mfhd, box('traf', tfhd, tfdt, trun));
  // The data offset counts from the moof's first byte to the first packet (past the mdat header).
  moof.writeInt32BE(moof.length + 8, moof.length - trunFields.length + 4);
  const mdatHead = Buffer.alloc(8);
  mdatHead.writeUInt32BE(8 + mdatBytes, 0);
  mdatHead.write('mdat', 4, 'latin1');
  return Buffer.concat([moof, mdatHead]);
}
