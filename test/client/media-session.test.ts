import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mediaMetadataFor } from '../../client/src/now-metadata.ts';
import { parseNowEvent, parseServerMessage } from '../../client/src/protocol/messages.ts';

// A `now` object as the server sends it (PROTOCOL.md, "Now playing").
const NOW = {
  station: 'default',
  personal: false,
  preset: 'focus',
  key: 'D',
  mode: 'dorian',
  chord: 'Dm9',
  section: 'drift',
  position: 480_000,
  at: 1_790_000_010_000,
  next: { position: 576_000, at: 1_790_000_012_000, kind: 'forecast', chord: null },
};

describe('Media Session metadata', () => {
  it('title: chord and section; artist: Auralis — station; album: preset, key and mode', () => {
    assert.deepEqual(mediaMetadataFor({ ...NOW }), {
      title: 'Dm9 · Drift',
      artist: 'Auralis — default',
      album: 'Focus · D Dorian',
    });
  });

  it('leaves out what is unknown: no preset, no chord yet, nothing at all', () => {
    assert.deepEqual(mediaMetadataFor({ ...NOW, preset: null }), {
      title: 'Dm9 · Drift',
      artist: 'Auralis — default',
      album: 'D Dorian',
    });
    // Before the first chord: the station's name, and the parameters the page knows.
    assert.deepEqual(mediaMetadataFor({ station: 'study', key: 'A', mode: 'aeolian' }), {
      title: 'study',
      artist: 'Auralis — study',
      album: 'A Aeolian',
    });
    assert.deepEqual(mediaMetadataFor({ station: 'My own session' }), {
      title: 'My own session',
      artist: 'Auralis — My own session',
      album: 'Auralis',
    });
  });

  it('changes with each change of what is sounding', () => {
    const a = mediaMetadataFor({ ...NOW });
    const b = mediaMetadataFor({ ...NOW, chord: 'Gmaj7', section: 'bloom' });
    const c = mediaMetadataFor({ ...NOW, key: 'F#', mode: 'lydian', preset: null });
    assert.notEqual(a.title, b.title);
    assert.equal(b.title, 'Gmaj7 · Bloom');
    assert.equal(c.album, 'F# Lydian');
  });

  it('reads the same object from the WebSocket message and from the event stream', () => {
    const fromWs = parseServerMessage(JSON.stringify({ type: 'now', ...NOW }));
    const fromSse = parseNowEvent(JSON.stringify(NOW));
    assert.ok(fromWs && fromWs.type === 'now');
    assert.deepEqual(fromSse, fromWs);
    assert.deepEqual(mediaMetadataFor({ ...fromSse!, station: 'default' }), mediaMetadataFor({ ...NOW }));
    // Malformed data, or a station that has not announced a chord yet, gives nothing.
    assert.equal(parseNowEvent('{'), null);
    assert.equal(parseNowEvent(JSON.stringify({ ...NOW, chord: null })), null);
  });
});
