/**
 * Lock-screen and headset integration (Media Session API): what is playing and play/pause. The
 * metadata comes from one builder, fed by the WebSocket `now` messages (Web Audio path) and by the
 * now-playing event stream (the `<audio>` path), so both show the same thing.
 */
import { mediaMetadataFor, type NowShown } from './now-metadata.ts';

let shown = '';

/** Sets `navigator.mediaSession.metadata` from what is sounding (only when it changed). */
export function updateMediaMetadata(now: NowShown): void {
  if (
    typeof navigator === 'undefined' ||
    !('mediaSession' in navigator) ||
    typeof MediaMetadata !== 'function'
  )
    return;
  const fields = mediaMetadataFor(now);
  const key = `${fields.title}\n${fields.artist}\n${fields.album}`;
  if (key === shown && navigator.mediaSession.metadata) return;
  shown = key;
  navigator.mediaSession.metadata = new MediaMetadata(fields);
}

export function setMediaPlaybackState(playing: boolean): void {
  if (!('mediaSession' in navigator)) return;
  navigator.mediaSession.playbackState = playing ? 'playing' : 'paused';
}

export function setMediaHandlers(onPlay: () => void, onPause: () => void): void {
  if (!('mediaSession' in navigator)) return;
  const set = (action: MediaSessionAction, handler: () => void) => {
    try {
      navigator.mediaSession.setActionHandler(action, handler);
    } catch {
      // An action this browser does not support.
    }
  };
  set('play', onPlay);
  set('pause', onPause);
  set('stop', onPause);
}
