import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  chooseStream,
  HLS_TYPE,
  isPersonalSessionId,
  OGG_OPUS_TYPE,
  streamPath,
  type CanPlay,
} from '../../client/src/audio/stream-choice.ts';

/** A media element that answers canPlayType from a table ('' for anything else), recording the asks. */
function browser(answers: Record<string, string>): CanPlay & { asked: string[] } {
  const asked: string[] = [];
  return { asked, canPlayType: (type) => (asked.push(type), answers[type] ?? '') };
}

describe('the <audio> fallback stream choice', () => {
  it('Safari-like (native HLS, no Ogg/Opus): HLS, unless the station is a personal session', () => {
    const safari = browser({ [HLS_TYPE]: 'maybe', 'audio/mpeg': 'maybe' });
    assert.equal(chooseStream(safari, false), 'hls');
    assert.deepEqual(safari.asked, [OGG_OPUS_TYPE, HLS_TYPE]);
    assert.equal(chooseStream(safari, true), 'mp3');
  });

  it('Chromium-like (Ogg/Opus, and "maybe" for HLS that fails on packed MP3): Ogg', () => {
    const chromium = browser({ [HLS_TYPE]: 'maybe', [OGG_OPUS_TYPE]: 'probably', 'audio/mpeg': 'probably' });
    assert.equal(chooseStream(chromium, false), 'ogg');
    assert.equal(chooseStream(chromium, true), 'ogg');
    assert.equal(chooseStream(browser({ [OGG_OPUS_TYPE]: 'maybe' }), false), 'ogg');
  });

  it('MP3 only: MP3', () => {
    assert.equal(chooseStream(browser({ 'audio/mpeg': 'probably' }), false), 'mp3');
    assert.equal(chooseStream(browser({}), false), 'mp3');
  });

  it('paths and personal session ids', () => {
    assert.equal(streamPath('hls', 'default'), '/hls/default.m3u8');
    assert.equal(streamPath('ogg', 'study'), '/stream/study.ogg');
    assert.equal(streamPath('mp3', 'study'), '/stream/study.mp3');
    assert.ok(isPersonalSessionId(`p-${'0a'.repeat(15)}`));
    assert.ok(!isPersonalSessionId('default'));
    assert.ok(!isPersonalSessionId('p-study'));
  });
});
