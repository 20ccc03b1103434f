import { CodecError } from './codec-error.ts';

/** A Standard MIDI File reader for tests and tools: header, tracks, channel and meta events. */
export interface MidiEvent {
  tick: number;
  /** Status high nibble (0x80 off, 0x90 on, 0xc0 program…) or 0xff for meta. */
  kind: number;
  channel: number;
  data1: number;
  data2: number;
  metaType?: number;
  metaData?: Uint8Array;
}

export interface MidiTrack {
  name: string | null;
  events: MidiEvent[];
}

export interface MidiFile {
  format: number;
  division: number;
  tracks: MidiTrack[];
}

export function parseMidiFile(bytes: Uint8Array): MidiFile {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number): string => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.length < 14 || tag(0) !== 'MThd' || v.getUint32(4) !== 6) {
    throw new CodecError('BAD_HEADER', 'midi: no MThd header');
  }
  const format = v.getUint16(8);
  const ntrks = v.getUint16(10);
  const division = v.getUint16(12);
  const tracks: MidiTrack[] = [];
  let pos = 14;
  for (let t = 0; t < ntrks; t++) {
    if (pos + 8 > bytes.length || tag(pos) !== 'MTrk')
      throw new CodecError('BAD_HEADER', `midi: track ${t} missing`);
    const end = pos + 8 + v.getUint32(pos + 4);
    if (end > bytes.length) throw new CodecError('SHORT_INPUT', `midi: track ${t} truncated`);
    let p = pos + 8;
    let tick = 0;
    let status = 0;
    let name: string | null = null;
    const events: MidiEvent[] = [];
    const vlq = (): number => {
      let n = 0;
      for (let i = 0; i < 4; i++) {
        const b = bytes[p++]!;
        n = (n << 7) | (b & 0x7f);
        if ((b & 0x80) === 0) return n;
      }
      throw new CodecError('BAD_HEADER', 'midi: variable-length quantity longer than 4 bytes');
    };
    let ended = false;
    while (p < end) {
      tick += vlq();
      let b = bytes[p]!;
      if (b & 0x80) {
        p++;
        status = b;
      } else if (status === 0) {
        throw new CodecError('BAD_HEADER', 'midi: running status without a status');
      } else {
        b = status;
      }
      if (status === 0xff) {
        const metaType = bytes[p++]!;
        const len = vlq();
        const metaData = bytes.subarray(p, p + len);
        p += len;
        if (metaType === 0x03 && name === null) name = new TextDecoder().decode(metaData);
        if (metaType === 0x2f) ended = true;
        events.push({ tick, kind: 0xff, channel: -1, data1: 0, data2: 0, metaType, metaData });
        status = 0;
        continue;
      }
      const kind = status & 0xf0;
      const data1 = bytes[p++]!;
      const data2 = kind === 0xc0 || kind === 0xd0 ? 0 : bytes[p++]!;
      events.push({ tick, kind, channel: status & 0x0f, data1, data2 });
    }
    if (!ended) throw new CodecError('BAD_HEADER', `midi: track ${t} has no end-of-track event`);
    tracks.push({ name, events });
    pos = end;
  }
  return { format, division, tracks };
}
