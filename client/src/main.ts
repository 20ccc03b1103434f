import './styles.css';
import { setMediaHandlers, setMediaPlaybackState, updateMediaMetadata } from './media-session.ts';
import { PatchCoalescer } from './net/patch-coalescer.ts';
import type { Listening } from './net/ws-url.ts';
import { Player, type PlayerState } from './player.ts';
import type { NowMessage, ParamsPatch, StationParams } from './protocol/messages.ts';
import { loadSettings, saveSettings, type Settings } from './settings.ts';
import { SleepTimer, welcomeSleep } from './sleep-timer.ts';
import { Controls, type PresetInfo } from './ui/controls.ts';
import { byId } from './ui/dom.ts';
import { explainSection } from './ui/sections.ts';
import type { NextChange } from './ui/schedule-text.ts';
import { ScheduleLine } from './ui/schedule-line.ts';
import { Visualizer } from './ui/visualizer.ts';
import { MidiOut } from './score/midi-out.ts';
import { playheadFrames } from './score/notes.ts';

/** The page: wires the player to the controls, the figures and the browser's media keys. */
const RESUME_KEY = 'auralis.resume';
/** The server keeps a personal session 30 s after a disconnect; a reload within this resumes it. */
const RESUME_WINDOW_MS = 25_000;
/** The control token of a protected station, once entered: this tab only (never the URL or localStorage). */
const TOKEN_KEY = 'auralis.controlToken';
const FIGURES_MS = 250;
const AUTOPLAY_CHECK_MS = 1500;
const DEFAULT_TITLE = document.title;

const storage = (() => {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
})();
const settings: Settings = loadSettings(storage);
const midiOut = new MidiOut(
  byId<HTMLInputElement>('midi-out'),
  byId<HTMLSelectElement>('midi-port'),
  byId<HTMLElement>('midi-note'),
);
/**
 * `?moment=<token>` (a shared moment's `url`): the page plays a personal session that continues
 * that moment (PROTOCOL.md, "Moments"); cleared once the session exists or another source is chosen.
 */
let momentToken: string | null = new URLSearchParams(location.search).get('moment');
if (momentToken) settings.station = null;
const save = () => saveSettings(storage, settings);

const playButton = byId<HTMLButtonElement>('play');
const playLabel = byId<HTMLSpanElement>('play-label');
const conn = byId<HTMLParagraphElement>('conn');
const connText = byId<HTMLSpanElement>('conn-text');
const chord = byId<HTMLParagraphElement>('chord');
const nowLine = byId<HTMLParagraphElement>('now-line');
const sectionNote = byId<HTMLParagraphElement>('section-note');
const nowLabel = byId<HTMLParagraphElement>('now-label');
const source = byId<HTMLSelectElement>('source');
const sourceNote = byId<HTMLParagraphElement>('source-note');
const volume = byId<HTMLInputElement>('volume');
const volumeOut = byId<HTMLOutputElement>('volume-out');
const sleep = byId<HTMLSelectElement>('sleep');
const sleepOut = byId<HTMLOutputElement>('sleep-out');

let presets: Array<PresetInfo & { params?: Partial<StationParams> }> = [];
let stationParams: Partial<StationParams> = {};
let nowInfo: NowMessage | null = null;

const STATE_TEXT: Record<PlayerState, string> = {
  stopped: 'Not playing',
  connecting: 'Connecting…',
  buffering: 'Buffering…',
  playing: 'Live',
  reconnecting: 'Reconnecting…',
  error: 'Cannot play',
};

// ---- the player -------------------------------------------------------------------------------

const player = new Player(byId<HTMLAudioElement>('stream'), {
  onState(state, detail) {
    conn.dataset.state = state;
    connText.textContent =
      detail && state !== 'playing' ? `${STATE_TEXT[state]} · ${detail}` : STATE_TEXT[state];
    const on = player.isPlaying;
    playButton.dataset.playing = String(on);
    playLabel.textContent = on ? 'Pause' : 'Play';
    setMediaPlaybackState(on);
    showNow();
    if (!on) document.title = DEFAULT_TITLE;
  },
  onSleep(msg) {
    if (msg.ended) {
      // The server's ending has played: the session is over; stop without reconnecting.
      serverSleepEndsAtMs = null;
      void stop().then(() => (sleepOut.value = 'Sleep timer ended'));
      return;
    }
    serverSleepEndsAtMs = msg.endsAtMs ?? null;
  },
  onTier() {
    showTier();
  },
  onNotes(msg, ended) {
    midiOut.play(msg, ended, player.scoreClock);
  },
  onWelcome(msg) {
    if (msg.personal) {
      if (msg.resumeToken)
        sessionStorageSet(RESUME_KEY, JSON.stringify({ token: msg.resumeToken, at: Date.now() }));
      // The server's sleep timer as it runs (a reloaded page shows it; a recreated session has none).
      const timer = welcomeSleep(
        msg.sleep,
        [...sleep.options].map((o) => o.value),
      );
      if (timer && (timer.endsAtMs !== null || serverSleepEndsAtMs !== null)) {
        sleepTimer.cancel();
        serverSleepEndsAtMs = timer.endsAtMs;
        sleep.value = timer.select;
      }
      if (momentToken) {
        // The moment's parameters are the session's: keep them, and a reload resumes the session.
        momentToken = null;
        const page = new URL(location.href);
        page.searchParams.delete('moment');
        history.replaceState(null, '', page);
        rememberPersonal(msg.params);
        showParams(msg.params);
        return;
      }
      // Re-apply what this listener chose (a resumed or fresh session may differ).
      const wanted = settings.personal;
      const diff: ParamsPatch = {};
      if (msg.params.key !== wanted.key) diff.key = wanted.key;
      if (msg.params.mode !== wanted.mode) diff.mode = wanted.mode;
      if (msg.params.bpm !== wanted.bpm) diff.bpm = wanted.bpm;
      if (Math.abs(msg.params.intensity - wanted.intensity) > 1e-6) diff.intensity = wanted.intensity;
      if (Object.keys(diff).length > 0) player.sendSet(diff);
      // With a diff to apply, `modified` is the page's own reckoning until the answer comes.
      showParams(Object.keys(diff).length > 0 ? { ...msg.params, ...diff, modified: undefined } : msg.params);
    } else {
      showParams(msg.params);
    }
  },
  onParams(msg) {
    showParams(msg.params);
    // An entry fired (or the schedule was set or replaced): the line asks for the next change.
    if (settings.station !== null) {
      scheduleLine.params(msg.source, Date.now());
      renderNextChange();
    }
    if (msg.resumeToken)
      sessionStorageSet(RESUME_KEY, JSON.stringify({ token: msg.resumeToken, at: Date.now() }));
    if (player.currentListening.kind === 'personal') rememberPersonal(msg.params);
  },
  onNow(msg) {
    nowInfo = msg;
    showNow();
    if (player.isPlaying) document.title = `${msg.chord} · Auralis`;
    updateMetadata();
  },
  onServerError(msg) {
    if (isTokenRefusal(msg.code, msg.field)) {
      showTokenPrompt(msg.code === 'FORBIDDEN' && tokenFromSession() !== null);
    } else {
      controls.showError(msg.message, msg.field);
    }
    controls.show(stationParams);
  },
});

/**
 * The now panel: the chord and section while playing; "Paused" (the last chord dimmed) once
 * playback stops, since nothing is sounding then.
 */
function showNow(): void {
  const on = player.isPlaying;
  chord.dataset.paused = String(!on);
  nowLabel.textContent = on ? 'Now sounding' : 'Not playing';
  if (!nowInfo) {
    chord.textContent = '—';
    nowLine.textContent = on ? 'Waiting for the first chord…' : 'Press play to begin';
    sectionNote.hidden = true;
    return;
  }
  if (!on) {
    chord.textContent = 'Paused';
    nowLine.textContent = `Last heard: ${nowInfo.chord} · ${nowInfo.key} ${capitalize(nowInfo.mode)}`;
    sectionNote.hidden = true;
    return;
  }
  chord.textContent = nowInfo.chord;
  nowLine.replaceChildren(`${nowInfo.key} ${capitalize(nowInfo.mode)} · section `);
  const word = document.createElement('span');
  word.className = 'section-word';
  word.textContent = nowInfo.section;
  nowLine.append(word);
  sectionNote.textContent = explainSection(nowInfo.section);
  sectionNote.hidden = false;
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function showParams(params: Partial<StationParams>): void {
  stationParams = { ...stationParams, ...params };
  controls.show(stationParams);
  updateMetadata();
}

function rememberPersonal(params: Partial<StationParams>): void {
  const p = settings.personal;
  if (params.key) p.key = params.key;
  if (params.mode) p.mode = params.mode;
  if (typeof params.bpm === 'number') p.bpm = params.bpm;
  if (typeof params.intensity === 'number') p.intensity = params.intensity;
  if (params.preset !== undefined) p.preset = params.preset ?? null;
  save();
}

function updateMetadata(): void {
  const listening = player.currentListening;
  updateMediaMetadata({
    station: listening.kind === 'station' ? listening.station : 'My own session',
    chord: nowInfo?.chord,
    section: nowInfo?.section,
    key: nowInfo?.key ?? stationParams.key,
    mode: nowInfo?.mode ?? stationParams.mode,
    preset: nowInfo?.preset !== undefined ? nowInfo.preset : stationParams.preset,
  });
}

// ---- controls ---------------------------------------------------------------------------------

const coalescer = new PatchCoalescer(
  (patch) => void applyPatch(patch),
  () => performance.now(),
);

const controls = new Controls(
  (patch) => {
    // `stationParams` stays what the server confirmed, so that a rejected change can be undone.
    if (player.currentListening.kind === 'personal') rememberPersonal(patch);
    coalescer.change(patch);
  },
  (name) => {
    coalescer.cancel();
    void applyPreset(name);
  },
);

/** Sends a change over the socket when connected, else over HTTP (stations) or keeps it (personal). */
async function applyPatch(patch: ParamsPatch): Promise<void> {
  lastChange = patch;
  if (player.welcomeMessage && player.sendSet(patch)) return;
  const listening = player.currentListening;
  if (listening.kind === 'station') await patchStation(listening.station, patch);
  // A personal session not playing: the change is kept for the next start and shown now.
  else showParams({ ...patch, modified: undefined });
}

async function applyPreset(name: string): Promise<void> {
  const listening = player.currentListening;
  lastChange = { preset: name } as ParamsPatch;
  if (player.welcomeMessage && player.sendPreset(name)) return;
  if (listening.kind === 'station') {
    await patchStation(listening.station, { preset: name } as ParamsPatch);
  } else {
    const preset = presets.find((p) => p.name === name);
    const params = { ...(preset?.params ?? {}), preset: name, modified: false };
    rememberPersonal(params);
    showParams(params);
  }
}

/** Sends a change over HTTP (with the control token if one was entered); true when applied. */
async function patchStation(
  station: string,
  patch: ParamsPatch,
  token = tokenFromSession(),
): Promise<boolean> {
  try {
    const res = await fetch(`/api/stations/${encodeURIComponent(station)}`, {
      method: 'PATCH',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(patch),
    });
    const body = (await res.json().catch(() => null)) as {
      params?: StationParams;
      error?: { code?: string; message: string; field?: string };
    } | null;
    if (!res.ok) {
      if (
        isTokenRefusal(body?.error?.code ?? (res.status === 401 ? 'UNAUTHORIZED' : ''), body?.error?.field)
      ) {
        showTokenPrompt(token !== null);
      } else {
        controls.showError(body?.error?.message ?? `The server answered ${res.status}`, body?.error?.field);
      }
      controls.show(stationParams);
      return false;
    }
    if (body?.params) showParams(body.params);
    return true;
  } catch {
    controls.showError('The server cannot be reached; the change was not applied.');
    return false;
  }
}

// ---- a station protected by a control token ----------------------------------------------------

const tokenBox = byId<HTMLDivElement>('token-box');
const tokenMessage = byId<HTMLParagraphElement>('token-message');
const tokenForm = byId<HTMLFormElement>('token-form');
const tokenInput = byId<HTMLInputElement>('token');
const tokenError = byId<HTMLParagraphElement>('token-error');
/** The last change sent: retried with the token once the listener enters it. */
let lastChange: ParamsPatch | null = null;

/** A change refused for want of the control token (not for another reason, such as the origin). */
function isTokenRefusal(code: string, field?: string): boolean {
  if (player.currentListening.kind !== 'station') return false;
  return code === 'UNAUTHORIZED' || (code === 'FORBIDDEN' && field !== 'origin');
}

function tokenFromSession(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function showTokenPrompt(tokenWasWrong: boolean): void {
  const listening = player.currentListening;
  const name = listening.kind === 'station' ? listening.station : 'this station';
  tokenMessage.textContent =
    `Station “${name}” is protected: enter its control token to change the music, ` +
    'or start your own personal session (no token needed).';
  tokenError.textContent = tokenWasWrong ? 'That token was not accepted.' : '';
  tokenError.hidden = !tokenWasWrong;
  const wasHidden = tokenBox.hidden;
  tokenBox.hidden = false;
  // Bring it into view (a listener who scrolled down to the tempo), without moving the focus.
  const calm = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  if (wasHidden) tokenBox.scrollIntoView({ block: 'nearest', behavior: calm ? 'auto' : 'smooth' });
}

function hideTokenPrompt(): void {
  tokenBox.hidden = true;
  tokenError.hidden = true;
  tokenInput.value = '';
}

tokenForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const token = tokenInput.value.trim();
  const listening = player.currentListening;
  if (!token || listening.kind !== 'station') return;
  // Check the token by retrying the refused change with it; keep it only if it is accepted.
  void patchStation(listening.station, lastChange ?? {}, token).then((ok) => {
    if (!ok) {
      tokenError.textContent = 'That token was not accepted.';
      tokenError.hidden = false;
      return;
    }
    sessionStorageSet(TOKEN_KEY, token);
    player.setControlToken(token);
    hideTokenPrompt();
  });
});

// ---- share a moment (PROTOCOL.md, "Moments") ---------------------------------------------------

const momentUrl = byId<HTMLInputElement>('moment-url');
const momentNote = byId<HTMLElement>('moment-note');
byId<HTMLButtonElement>('share-moment').addEventListener('click', () => void shareMoment());

async function shareMoment(): Promise<void> {
  const id = player.welcomeMessage?.station ?? settings.station ?? 'default';
  try {
    const res = await fetch(`/api/stations/${encodeURIComponent(id)}/moment`);
    const body = (await res.json()) as { url?: string; error?: { message?: string } };
    if (!res.ok || typeof body.url !== 'string') {
      momentNote.textContent = body.error?.message ?? 'No moment can be shared now.';
      return;
    }
    momentUrl.value = body.url;
    momentUrl.hidden = false;
    momentUrl.select();
    momentNote.textContent = 'Copied: whoever opens it hears this moment and what follows.';
    await navigator.clipboard?.writeText(body.url).catch(() => {
      momentNote.textContent = 'Copy the link above: whoever opens it hears this moment and what follows.';
    });
  } catch {
    momentNote.textContent = 'The server could not be reached.';
  }
}

byId<HTMLButtonElement>('go-personal').addEventListener('click', () => {
  source.value = 'personal';
  source.dispatchEvent(new Event('change'));
  hideTokenPrompt();
  playButton.focus();
});

// ---- source, volume, sleep --------------------------------------------------------------------

function listeningFromSettings(): Listening {
  if (settings.station !== null) return { kind: 'station', station: settings.station };
  const { key, mode, bpm, intensity, preset } = settings.personal;
  // A moment starts a new session: an earlier one of this tab is not resumed instead.
  const resume = momentToken ? null : readResume();
  return {
    kind: 'personal',
    initial: { ...(preset ? { preset } : {}), key, mode, bpm, intensity },
    resumeToken: resume ?? undefined,
    ...(momentToken ? { moment: momentToken } : {}),
  };
}

function showSourceNote(): void {
  sourceNote.textContent =
    settings.station === null
      ? 'A private session: only you hear your changes, and they are remembered on this device.'
      : 'Changes you make are heard by everyone on this station.';
}

// The station's schedule, if it has one: its next change under the mood line, counted down, and
// asked for again once it has passed or when an entry fires (ScheduleLine says when).
const scheduleNote = byId<HTMLParagraphElement>('schedule-note');
let scheduleLine = new ScheduleLine();
let scheduleTimer: ReturnType<typeof setTimeout> | null = null;

function showNextChange(next: NextChange | null): void {
  scheduleLine.received(next, Date.now());
  renderNextChange();
}

function renderNextChange(): void {
  if (scheduleTimer !== null) clearTimeout(scheduleTimer);
  scheduleTimer = null;
  const now = Date.now();
  if (settings.station !== null && scheduleLine.due(now)) void loadStationParams();
  const text = scheduleLine.text(now);
  scheduleNote.hidden = text === null;
  if (text !== null) scheduleNote.textContent = text;
  if (settings.station !== null) scheduleTimer = setTimeout(renderNextChange, scheduleLine.delayMs(now));
}

async function loadStationParams(): Promise<void> {
  if (settings.station === null) {
    showNextChange(null);
    showParams(settings.personal);
    return;
  }
  try {
    const res = await fetch(`/api/stations/${encodeURIComponent(settings.station)}`);
    if (res.ok) {
      const body = (await res.json()) as {
        params?: StationParams;
        schedule?: { next?: NextChange } | null;
      };
      if (body.params) showParams(body.params);
      showNextChange(body.schedule?.next ?? null);
    }
  } catch {
    // Offline: the controls keep their defaults until a welcome arrives.
  }
}

source.addEventListener('change', () => {
  momentToken = null;
  settings.station = source.value === 'personal' ? null : source.value.replace(/^station:/, '');
  save();
  showSourceNote();
  nowInfo = null;
  showNow();
  hideTokenPrompt();
  stationParams = {};
  scheduleLine = new ScheduleLine();
  player.setListening(listeningFromSettings());
  void loadStationParams();
  updateMetadata();
});

// Playback engine: `?engine=stream` in the URL, else the remembered choice.
const engine = byId<HTMLSelectElement>('engine');
const engineNote = byId<HTMLParagraphElement>('engine-note');
/** The hint under Playback describes the option chosen (see Player.setPath and setBackground). */
function showEngineNote(): void {
  if (!player.workletAvailable) {
    engineNote.textContent = 'This browser (or an insecure http:// address) offers only the stream.';
  } else if (engine.value === 'stream') {
    engineNote.textContent =
      'The browser’s audio player streams the station: it keeps playing with the screen off, ' +
      'but runs a few seconds behind and cannot play a personal session.';
  } else {
    engineNote.textContent =
      'Plays with the least delay, so changes are heard soonest. On a phone, a station hands ' +
      'over to the stream while the screen is off.';
  }
}
const engineFromUrl = new URLSearchParams(location.search).get('engine');
if (engineFromUrl === 'stream' || engineFromUrl === 'auto') settings.engine = engineFromUrl;
if (!player.workletAvailable) {
  engine.options[0].disabled = true;
}
engine.value = player.workletAvailable ? settings.engine : 'stream';
showEngineNote();
void player.setPath(engine.value === 'stream' ? 'stream' : 'worklet');
engine.addEventListener('change', () => {
  settings.engine = engine.value === 'stream' ? 'stream' : 'auto';
  save();
  showEngineNote();
  void player.setPath(settings.engine === 'stream' ? 'stream' : 'worklet');
});

// Bitrate tier: Auto (net/abr.ts) or one of the tiers the server offers (welcome.tiers).
const quality = byId<HTMLSelectElement>('quality');
const qualityOut = byId<HTMLOutputElement>('quality-out');
const qualityNote = byId<HTMLParagraphElement>('quality-note');
function showTier(): void {
  const t = player.tierInfo();
  const wanted = ['auto', ...t.tiers.map(String)];
  if (wanted.join(',') !== [...quality.options].map((o) => o.value).join(',')) {
    quality.replaceChildren(
      new Option('Auto (adapts to the connection)', 'auto'),
      ...t.tiers.map((k) => new Option(`${k} kb/s`, String(k))),
    );
  }
  quality.disabled = t.tiers.length === 0;
  const choice = t.mode === 'manual' && t.manualKbps !== null ? String(t.manualKbps) : 'auto';
  if (quality.value !== choice) quality.value = choice;
  const mode = t.mode === 'auto' ? 'auto' : 'fixed';
  qualityOut.value =
    t.kbps === null
      ? ''
      : `${t.kbps} kb/s · ${mode}${t.pendingKbps !== null && t.pendingKbps !== t.kbps ? ` → ${t.pendingKbps}` : ''}`;
  // Before the first welcome nothing is known of the server's tiers: say so, rather than "one bitrate".
  const streaming = player.playbackPath === 'stream';
  qualityNote.textContent =
    t.tiers.length > 0
      ? 'Auto lowers the bitrate on a slow connection and raises it again.'
      : streaming
        ? 'One bitrate on this path (the stream).'
        : player.welcomeMessage
          ? 'One bitrate on this connection (uncompressed audio, or a server without tiers).'
          : 'The bitrates on offer appear once playing; Auto lowers the bitrate on a slow connection.';
}
quality.addEventListener('change', () => {
  player.setTier(quality.value === 'auto' ? null : Number(quality.value));
});

volume.value = String(settings.volume);
volumeOut.value = `${Math.round(settings.volume * 100)} %`;
player.setVolume(settings.volume);
volume.addEventListener('input', () => {
  settings.volume = Number(volume.value);
  volumeOut.value = `${Math.round(settings.volume * 100)} %`;
  player.setVolume(settings.volume);
});
volume.addEventListener('change', save);

const sleepTimer = new SleepTimer(
  (fadeMs) => player.fadeOut(fadeMs),
  () => {
    sleep.value = '0';
    void stop();
  },
);
/**
 * A personal session's sleep timer runs on the server, which ends the music itself (it thins,
 * resolves and fades in the score and the synth) and then the session; shared stations (and a
 * session not connected yet) keep the page's own fade.
 */
let serverSleepEndsAtMs: number | null = null;
sleep.addEventListener('change', () => {
  const minutes = Number(sleep.value);
  sleepTimer.cancel();
  if (
    settings.station === null &&
    (serverSleepEndsAtMs !== null || minutes > 0) &&
    player.sendSleep(minutes)
  ) {
    if (minutes === 0) serverSleepEndsAtMs = null;
    return;
  }
  serverSleepEndsAtMs = null;
  sleepTimer.set(minutes);
});

// ---- play / pause -----------------------------------------------------------------------------

async function start(): Promise<void> {
  settings.wasPlaying = true;
  save();
  await player.play();
}

async function stop(): Promise<void> {
  settings.wasPlaying = false;
  save();
  sleepTimer.cancel();
  if (serverSleepEndsAtMs !== null) player.sendSleep(0);
  serverSleepEndsAtMs = null;
  sleep.value = '0';
  await player.pause();
}

function toggle(): void {
  if (player.isPlaying) void stop();
  else void start();
}

playButton.addEventListener('click', toggle);
document.addEventListener('keydown', (e) => {
  const target = e.target as HTMLElement | null;
  const typing = target && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(target.tagName);
  if (e.code === 'Space' && !typing && !e.repeat) {
    e.preventDefault();
    toggle();
  }
});
setMediaHandlers(
  () => void start(),
  () => void stop(),
);

// Phones: hand over to the <audio> element while the screen is off or the page hidden.
const coarsePointer = window.matchMedia('(pointer: coarse)');
document.addEventListener('visibilitychange', () => {
  if (coarsePointer.matches) void player.setBackground(document.hidden);
});

// ---- figures ----------------------------------------------------------------------------------

const figBuffer = byId('fig-buffer');
const figTarget = byId('fig-target');
const figUnderruns = byId('fig-underruns');
const figRtt = byId('fig-rtt');
const figCodec = byId('fig-codec');
setInterval(() => {
  const s = player.stats();
  const live = s.state !== 'stopped';
  figBuffer.textContent = live ? `${Math.round(s.bufferedMs)} ms` : '–';
  figTarget.textContent = live && s.targetMs > 0 ? `${Math.round(s.targetMs)} ms` : '–';
  figUnderruns.textContent = live ? String(s.underruns) : '–';
  figRtt.textContent = live && s.rttMs !== null ? `${Math.round(s.rttMs)} ms` : '–';
  figCodec.textContent = live ? (s.codec === 'ogg' ? 'Ogg stream' : s.codec.toUpperCase()) : '–';
  showTier();
  const left =
    serverSleepEndsAtMs !== null ? Math.max(0, serverSleepEndsAtMs - Date.now()) : sleepTimer.remainingMs();
  sleepOut.value = left === null ? '' : `${Math.ceil(left / 60_000)} min left`;
}, FIGURES_MS);

const visualizer = new Visualizer(
  byId<HTMLCanvasElement>('viz'),
  () => player.analyser,
  () => player.isPlaying,
  () => {
    const clock = player.scoreClock;
    return clock
      ? {
          notes: player.score.notes,
          playhead: playheadFrames(clock, Date.now()),
          sampleRate: clock.sampleRate,
        }
      : null;
  },
);

// ---- the public hook for tests and curious listeners -------------------------------------------

declare global {
  interface Window {
    auralisPlayer: {
      stats(): {
        state: PlayerState;
        bufferedMs: number;
        targetMs: number;
        underruns: number;
        playedFrames: number;
        rms: number;
        codec: string;
      } & Record<string, unknown>;
      /** What the server last said about this connection: station id, personal, parameters. */
      session(): { station: string; personal: boolean; params: Partial<StationParams> } | null;
      /** The live score: notes received (`events=1`) and notes the visualizer drew in its last frame. */
      score(): { received: number; drawn: number };
      play(): Promise<void>;
      pause(): Promise<void>;
    };
  }
}
window.auralisPlayer = {
  stats: () => ({ ...player.stats() }),
  session: () => {
    const w = player.welcomeMessage;
    return w ? { station: w.station, personal: w.personal, params: { ...stationParams } } : null;
  },
  score: () => ({ received: player.score.received, drawn: visualizer.notesDrawn }),
  play: start,
  pause: stop,
};

// ---- start-up ---------------------------------------------------------------------------------

function sessionStorageSet(key: string, value: string): void {
  try {
    sessionStorage.setItem(key, value);
  } catch {
    // No session storage: a reload starts a new personal session.
  }
}

function readResume(): string | null {
  try {
    const saved = JSON.parse(sessionStorage.getItem(RESUME_KEY) ?? 'null') as {
      token: string;
      at: number;
    } | null;
    return saved && Date.now() - saved.at < RESUME_WINDOW_MS ? saved.token : null;
  } catch {
    return null;
  }
}

// Stations come and go: refresh the list when the listener reaches for it (at most every 5 s).
let listsLoadedAtMs = 0;
const refreshLists = () => {
  if (performance.now() - listsLoadedAtMs > 5000) void loadLists();
};
source.addEventListener('focus', refreshLists);
source.addEventListener('pointerdown', refreshLists);

async function loadLists(): Promise<void> {
  listsLoadedAtMs = performance.now();
  const [stationsRes, presetsRes] = await Promise.allSettled([fetch('/api/stations'), fetch('/api/presets')]);
  if (stationsRes.status === 'fulfilled' && stationsRes.value.ok) {
    const body = (await stationsRes.value.json()) as unknown;
    const list = (Array.isArray(body) ? body : ((body as { stations?: unknown[] }).stations ?? [])) as Array<{
      id: string;
    }>;
    const ids = list.map((s) => s.id).filter((id) => typeof id === 'string');
    if (settings.station !== null && !ids.includes(settings.station)) ids.unshift(settings.station);
    const wanted = [...ids.map((id) => `station:${id}`), 'personal'];
    const current = [...source.options].map((o) => o.value);
    // Only touch the list when it changed: rebuilding an open <select> makes it flicker.
    if (wanted.join('\n') !== current.join('\n')) {
      source.replaceChildren(
        ...ids.map((id) => new Option(`Station · ${id}`, `station:${id}`)),
        new Option('My own session (private)', 'personal'),
      );
    }
  }
  source.value = settings.station === null ? 'personal' : `station:${settings.station}`;
  if (presetsRes.status === 'fulfilled' && presetsRes.value.ok) {
    presets = (await presetsRes.value.json()) as typeof presets;
    controls.setPresets(presets);
    controls.show(stationParams);
  }
}

player.setControlToken(tokenFromSession());
player.setListening(listeningFromSettings());
source.value = settings.station === null ? 'personal' : `station:${settings.station}`;
showSourceNote();
void loadLists();
void loadStationParams();
updateMetadata();

// Autoplay for a listener who left while playing, where the browser allows sound without a tap.
const autoplayWanted = settings.wasPlaying || new URLSearchParams(location.search).get('autoplay') === '1';
if (autoplayWanted) {
  void player.play();
  setTimeout(() => {
    if (player.isPlaying && !player.audioRunning()) void player.pause(0);
    if (!player.isPlaying) nowLine.textContent = 'Press play to continue listening';
  }, AUTOPLAY_CHECK_MS);
}
