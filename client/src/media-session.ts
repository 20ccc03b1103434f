/**
 * Lock-screen and headset integration (Media Session API): what is playing and play/pause.
 * Title: the station; artist: Auralis; album: key and mode.
 */
export function updateMediaMetadata(title: string, key: string, mode: string): void {
  if (!('mediaSession' in navigator) || typeof MediaMetadata !== 'function') return;
  navigator.mediaSession.metadata = new MediaMetadata({ title, artist: 'Auralis', album: `${key} ${mode}` });
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
