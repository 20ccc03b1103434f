import { randomBytes } from 'node:crypto';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { NoteLog, writeMidiFile } from '../codec/midi.ts';
import { DEFAULT_MP3_BITRATE, Mp3ChunkEncoder, maxMp3BytesForFrames } from '../codec/mp3-encoder.ts';
import { encodePcm16, PCM16_BYTES_PER_FRAME_STEREO, PLATFORM_LITTLE_ENDIAN } from '../codec/pcm16.ts';
import { wavFileHeader } from '../codec/wav.ts';
import { applyPatch, DEFAULT_PARAMS, PARAM_RANGES, validatePatch } from '../music/params.ts';
import {
  findDefaultSoundFont,
  SOUNDFONT_CANDIDATES,
  SOUNDFONT_DIR,
  soundFontProblem,
} from '../dsp/soundfont-file.ts';
import { PRESETS, sampledFor } from '../music/presets.ts';
import { MODES, SAMPLE_RATE, type MusicParams, type NoteEvent } from '../music/types.ts';
import { ArgError, EXIT_USAGE, parseArgs } from './args.ts';
import { decodeMoment, MomentTokenError, type Moment } from '../engine/moment.ts';

/**
 * `auralis render`: a station rendered offline to a 48 kHz stereo 16-bit WAV or an MP3 (and
 * optionally the score as MIDI). Streams to disk block by block, so memory stays flat for any length; writes to
 * a temporary file beside the target and renames it at the end, so a failed or interrupted render
 * never leaves a partial file under the target name.
 */
export const MAX_RENDER_SECONDS = 86_400;
/** Bit rate of `render --out x.mp3`: the server's default MP3 stream rate. */
export const RENDER_MP3_BITRATE = DEFAULT_MP3_BITRATE;
/** Seed used when --seed is not given, so that the same arguments give the same bytes. */
export const DEFAULT_RENDER_SEED = 1;
/** Frames rendered per call: the server's default chunk (100 ms), so offline sounds like live. */
export const RENDER_BLOCK_FRAMES = 4800;
/** Blocks gathered per disk write (1 s, 192 kB), double-buffered so rendering overlaps writing. */
export const BLOCKS_PER_WRITE = 10;
const EXIT_INTERRUPTED = 130;
const EXIT_FAILURE = 1;

export const RENDER_USAGE = `Usage: auralis render --seconds N --out FILE.wav|FILE.mp3 [options]

  --seconds N      length, 0 < N <= ${MAX_RENDER_SECONDS}
  --out FILE       the file to write, its format by its extension: .wav (48 kHz, stereo, 16-bit;
                   RF64 above 4 GiB) or .mp3 (48 kHz, stereo, ${RENDER_MP3_BITRATE / 1000} kb/s CBR, LAME)
  --midi FILE      also write the score as a Standard MIDI File
  --moment TOKEN   reproduce a station from a moment (GET /api/stations/:id/moment): the same
                   samples its listeners heard from that position on (the parameters as they were
                   then; later changes are not in the token). The signature is verified with
                   AURALIS_MOMENT_SECRET when it is set (the server's --moment-secret), else only
                   the token's format and values. Excludes --seed, --preset, --key, --mode, --bpm,
                   --intensity
  --seed S         integer 0 … 4294967295 (default ${DEFAULT_RENDER_SEED}); same arguments, same bytes
  --preset P       ${PRESETS.map((p) => p.name).join(', ')} (explicit parameters override it;
                   ${PRESETS.filter((p) => p.sampled)
                     .map((p) => p.name)
                     .join(' and ')} need a SoundFont)
  --soundfont PATH a SoundFont 2 file for the sampled presets (default: the first of
                   ${SOUNDFONT_CANDIDATES.join(', ')} in ${SOUNDFONT_DIR})
  --key K          C, C#/Db … B (default ${DEFAULT_PARAMS.key})
  --mode M         ${MODES.join(', ')} (default ${DEFAULT_PARAMS.mode})
  --bpm B          ${PARAM_RANGES.bpm.min}–${PARAM_RANGES.bpm.max} (default ${DEFAULT_PARAMS.bpm})
  --intensity I    ${PARAM_RANGES.intensity.min}–${PARAM_RANGES.intensity.max} (default ${DEFAULT_PARAMS.intensity})
  --help           this text
`;

export type RenderFormat = 'wav' | 'mp3';

export interface RenderOptions {
  seconds: number;
  seed: number;
  params: MusicParams;
  outPath: string;
  /** From the extension of `--out`; absent means WAV. */
  format?: RenderFormat;
  midiPath: string | null;
  /** `--moment`: the decoded moment to reproduce (its seed and parameters win), or null. */
  moment?: Moment | null;
  /** Whether the moment's signature was verified (AURALIS_MOMENT_SECRET was set). */
  momentVerified?: boolean;
  /** The SoundFont of the sampled layer (a sampled preset needs one), or null. */
  soundfontPath?: string | null;
}

/** What renders the audio: the StationRenderer in production, a synthetic source in tests. */
export interface AudioSource {
  render(outL: Float32Array, outR: Float32Array, count: number): void;
  /**
   * Optional: the same frames as 16-bit PCM words (see `StationRenderer.renderPcm16`), used for
   * WAV output on little-endian platforms: one pass less than `render` and `encodePcm16`.
   */
  renderPcm16?(words: Uint32Array, wordOffset: number, count: number): void;
}
export type SourceFactory = (o: {
  seed: number;
  params: MusicParams;
  onEvent: ((e: NoteEvent) => void) | undefined;
  moment?: Moment | null;
  soundfontPath?: string | null;
}) => AudioSource | Promise<AudioSource>;

export interface RenderResult {
  frames: number;
  /** Bytes of the audio file written (WAV or MP3). */
  outBytes: number;
  midiNotes: number | null;
  /** `--moment`: frames synthesized before the moment's first frame (the replay), else 0. */
  preRollFrames: number;
  wallSeconds: number;
  realTimeFactor: number;
}

/** Parses and validates `render` arguments. Throws ArgError naming the argument. */
export function parseRenderArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): RenderOptions | 'help' {
  const { values, flags } = parseArgs(argv, {
    values: [
      'seconds',
      'seed',
      'preset',
      'key',
      'mode',
      'bpm',
      'intensity',
      'out',
      'midi',
      'moment',
      'soundfont',
    ],
    flags: ['help'],
  });
  if (flags.has('help')) return 'help';

  const secondsText = values.get('seconds');
  if (secondsText === undefined) throw new ArgError('--seconds', '--seconds is required (0 < N <= 86400)');
  const seconds = Number(secondsText);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_RENDER_SECONDS) {
    throw new ArgError(
      '--seconds',
      `--seconds must be a number with 0 < N <= ${MAX_RENDER_SECONDS}, got ${JSON.stringify(secondsText)}`,
    );
  }
  if (Math.round(seconds * SAMPLE_RATE) < 1) {
    throw new ArgError(
      '--seconds',
      `--seconds must be at least one sample (1/${SAMPLE_RATE} s), got ${secondsText}`,
    );
  }

  const patchInput: Record<string, string> = {};
  for (const name of ['preset', 'key', 'mode', 'bpm', 'intensity', 'seed']) {
    const v = values.get(name);
    if (v !== undefined) patchInput[name] = v;
  }
  const checked = validatePatch(patchInput, { allowSeed: true });
  if (!checked.ok) throw new ArgError(`--${checked.field}`, `--${checked.field}: ${checked.message}`);
  let params = applyPatch(DEFAULT_PARAMS, checked.patch);
  let seed = checked.patch.seed ?? DEFAULT_RENDER_SEED;
  const momentText = values.get('moment');
  let moment: Moment | null = null;
  const secret = env.AURALIS_MOMENT_SECRET ?? '';
  if (momentText !== undefined) {
    const given = Object.keys(patchInput);
    if (given.length > 0)
      throw new ArgError(
        '--moment',
        `--moment carries the seed and parameters: leave out --${given.join(', --')}`,
      );
    try {
      moment = decodeMoment(momentText.trim(), secret === '' ? null : secret);
    } catch (e) {
      if (!(e instanceof MomentTokenError)) throw e;
      throw new ArgError('--moment', `--moment: ${e.message}`);
    }
    seed = moment.history.seed;
    const last = moment.history.changes[moment.history.changes.length - 1];
    params = last ? last.params : moment.history.params;
  }

  const out = values.get('out');
  if (out === undefined) throw new ArgError('--out', '--out is required: the .wav or .mp3 file to write');
  const ext = extname(out).toLowerCase();
  if (ext !== '.wav' && ext !== '.mp3') {
    throw new ArgError(
      '--out',
      `--out must end in .wav or .mp3 (the format is chosen by the extension), got ${JSON.stringify(out)}`,
    );
  }
  const format: RenderFormat = ext === '.mp3' ? 'mp3' : 'wav';
  const midi = values.get('midi') ?? null;
  const outPath = resolve(out);
  const midiPath = midi === null ? null : resolve(midi);
  if (midiPath !== null && midiPath === outPath) {
    throw new ArgError('--midi', '--midi must name a different file from --out');
  }
  // A moment may have played a sampled preset before its last change: the first one it names.
  const sampledPreset = moment
    ? ([moment.history.params, ...moment.history.changes.map((c) => c.params)].find(
        (p) => sampledFor(p.preset) !== null,
      )?.preset ?? null)
    : params.preset;
  const soundfontPath = soundfontFor(values.get('soundfont'), sampledPreset);
  return {
    seconds,
    seed,
    params,
    outPath,
    format,
    midiPath,
    soundfontPath,
    moment,
    momentVerified: moment !== null && secret !== '',
  };
}

/**
 * The SoundFont a render uses: the one named (it must be a SoundFont 2 file), else for a sampled
 * preset the first installed one; none for the other presets (they never sound sampled).
 */
function soundfontFor(named: string | undefined, preset: string | null): string | null {
  if (named !== undefined) {
    const problem = soundFontProblem(named);
    if (problem !== null) throw new ArgError('--soundfont', `--soundfont: ${problem}`);
    return resolve(named);
  }
  if (sampledFor(preset) === null) return null;
  const found = findDefaultSoundFont();
  if (found === null)
    throw new ArgError(
      '--preset',
      `--preset ${preset} needs a SoundFont: pass --soundfont PATH (none found in ${SOUNDFONT_DIR}; Debian: apt-get install timgm6mb-soundfont)`,
    );
  return found;
}

async function stationSource(o: Parameters<SourceFactory>[0]): Promise<AudioSource> {
  // Loaded here so that argument errors are reported even before the engine modules load.
  let soundfont = null;
  if (o.soundfontPath) {
    const { loadSoundFont } = await import('../dsp/soundfont.ts');
    try {
      soundfont = loadSoundFont(o.soundfontPath);
    } catch (err) {
      throw new ArgError('--soundfont', `--soundfont: ${(err as Error).message}`);
    }
  }
  if (o.moment) {
    const { MomentSource } = await import('../engine/moment-source.ts');
    return new MomentSource(o.moment, o.onEvent, soundfont);
  }
  const { StationRenderer } = await import('../engine/station-renderer.ts');
  return new StationRenderer({ seed: o.seed, params: o.params, onEvent: o.onEvent, soundfont });
}

/** A temporary file beside `target` (same filesystem, so the final rename is atomic). */
async function openTemp(target: string, argument: string): Promise<{ path: string; handle: FileHandle }> {
  try {
    const st = await stat(target);
    if (st.isDirectory()) throw new ArgError(argument, `${argument} ${target} is a directory`);
  } catch (e) {
    if (e instanceof ArgError) throw e;
    // Not existing yet is the normal case.
  }
  const path = join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    return { path, handle: await open(path, 'wx') };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ArgError(argument, `${argument} ${target} cannot be written (${code} in ${dirname(target)})`);
  }
}

/**
 * Renders to the files. Checks that both targets can be written before rendering; removes the
 * temporary files on any failure or when `shouldStop()` turns true (then throws 'interrupted').
 */
export async function renderToFiles(
  opts: RenderOptions,
  deps: {
    createSource?: SourceFactory;
    shouldStop?: () => boolean;
    onProgress?: (frames: number) => void;
  } = {},
): Promise<RenderResult> {
  const totalFrames = Math.round(opts.seconds * SAMPLE_RATE);
  const dataBytes = totalFrames * PCM16_BYTES_PER_FRAME_STEREO;
  const temps: { path: string; handle: FileHandle }[] = [];
  const encoders: (Mp3ChunkEncoder | null)[] = [];
  let done = false;
  try {
    const wav = await openTemp(opts.outPath, '--out');
    temps.push(wav);
    const midi = opts.midiPath === null ? null : await openTemp(opts.midiPath, '--midi');
    if (midi) temps.push(midi);

    const notes = midi ? new NoteLog() : null;
    let notesOverflow = false;
    const onEvent = notes
      ? (e: NoteEvent): void => {
          if (!notes.add(e)) notesOverflow = true;
        }
      : undefined;
    // From before the source: a moment's replay up to its position is part of the time taken.
    const t0 = performance.now();
    const source = await (deps.createSource ?? stationSource)({
      seed: opts.seed,
      params: opts.params,
      onEvent,
      moment: opts.moment ?? null,
      soundfontPath: opts.soundfontPath ?? null,
    });

    const preRoll = (source as { synthFrames?: number }).synthFrames ?? 0;
    const mp3 = opts.format === 'mp3' ? new Mp3ChunkEncoder({ bitrate: RENDER_MP3_BITRATE }) : null;
    encoders.push(mp3);
    let filePos = 0;
    if (!mp3) {
      const header = wavFileHeader(dataBytes);
      await wav.handle.write(header, 0, header.length, 0);
      filePos = header.length;
    }

    const left = new Float32Array(RENDER_BLOCK_FRAMES);
    const right = new Float32Array(RENDER_BLOCK_FRAMES);
    const mp3BlockBytes = maxMp3BytesForFrames(RENDER_BLOCK_FRAMES, RENDER_MP3_BITRATE);
    const writeBytes = mp3
      ? mp3BlockBytes * (BLOCKS_PER_WRITE + 1)
      : RENDER_BLOCK_FRAMES * BLOCKS_PER_WRITE * PCM16_BYTES_PER_FRAME_STEREO;
    const buffers = [new Uint8Array(writeBytes), new Uint8Array(writeBytes)];
    // WAV frames straight from the source as 32-bit words where it can (s16le on little-endian).
    const wordViews =
      !mp3 && PLATFORM_LITTLE_ENDIAN && source.renderPcm16 !== undefined
        ? buffers.map((b) => new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2))
        : null;
    let pendingWrite: Promise<unknown> = Promise.resolve();
    let which = 0;
    let rendered = 0;
    while (rendered < totalFrames) {
      const buf = buffers[which]!;
      let fill = 0;
      for (let b = 0; b < BLOCKS_PER_WRITE && rendered < totalFrames; b++) {
        const frames = Math.min(RENDER_BLOCK_FRAMES, totalFrames - rendered);
        if (wordViews !== null) {
          source.renderPcm16!(wordViews[which]!, fill >>> 2, frames);
          fill += frames * PCM16_BYTES_PER_FRAME_STEREO;
        } else {
          source.render(left, right, frames);
          fill += mp3
            ? mp3.encode(left, right, frames, buf, fill, mp3BlockBytes)
            : encodePcm16(left, right, frames, buf, fill);
        }
        rendered += frames;
      }
      // The last block: LAME's buffered samples and the unfinished frame.
      if (mp3 && rendered >= totalFrames) fill += mp3.flush(buf, fill);
      // The previous buffer must be on disk before this one is queued (and reused after).
      await pendingWrite;
      if (deps.shouldStop?.()) throw new Error('interrupted');
      pendingWrite = wav.handle.write(buf, 0, fill, filePos);
      filePos += fill;
      which ^= 1;
      deps.onProgress?.(rendered);
    }
    await pendingWrite;
    await wav.handle.sync();

    if (midi && notes) {
      if (notesOverflow)
        throw new Error(`the score has more than ${notes.maxNotes} notes; render without --midi`);
      const bytes = writeMidiFile(notes, {
        bpm: opts.params.bpm,
        sampleRate: SAMPLE_RATE,
        endFrame: totalFrames,
        title: `Auralis seed ${opts.seed}`,
      });
      await midi.handle.write(bytes, 0, bytes.length, 0);
      await midi.handle.sync();
    }
    for (const t of temps) await t.handle.close();
    const wallSeconds = (performance.now() - t0) / 1000;
    await rename(wav.path, opts.outPath);
    if (midi && opts.midiPath) await rename(midi.path, opts.midiPath);
    done = true;
    return {
      frames: totalFrames,
      outBytes: filePos,
      midiNotes: notes ? notes.count : null,
      preRollFrames: preRoll,
      wallSeconds,
      // Everything synthesized, a moment's replay included.
      realTimeFactor: (totalFrames + preRoll) / SAMPLE_RATE / Math.max(wallSeconds, 1e-9),
    };
  } finally {
    for (const e of encoders) e?.close();
    if (!done) {
      for (const t of temps) {
        await t.handle.close().catch(() => undefined);
        await rm(t.path, { force: true });
      }
    }
  }
}

function describe(params: MusicParams): string {
  return `key=${params.key} mode=${params.mode} bpm=${params.bpm} intensity=${params.intensity} preset=${params.preset ?? 'none'}`;
}

/** The `render` command: returns the process exit code. */
export async function runRender(argv: readonly string[]): Promise<number> {
  let opts: RenderOptions | 'help';
  try {
    opts = parseRenderArgs(argv);
  } catch (e) {
    if (!(e instanceof ArgError)) throw e;
    process.stderr.write(`auralis render: ${e.message}\n\n${RENDER_USAGE}`);
    return EXIT_USAGE;
  }
  if (opts === 'help') {
    process.stdout.write(RENDER_USAGE);
    return 0;
  }
  if (opts.moment && !opts.momentVerified)
    process.stderr.write(
      "auralis render: the moment's signature was not verified (AURALIS_MOMENT_SECRET is not set); its format is valid\n",
    );

  let interrupted = false;
  const stop = (): void => {
    interrupted = true;
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const progress =
    process.stderr.isTTY && opts.seconds >= 30
      ? (frames: number): void => {
          process.stderr.write(
            `\rrendering ${((100 * frames) / SAMPLE_RATE / (opts as RenderOptions).seconds).toFixed(0)}%`,
          );
        }
      : undefined;
  try {
    const r = await renderToFiles(opts, { shouldStop: () => interrupted, onProgress: progress });
    if (progress) process.stderr.write('\r');
    const files = opts.midiPath ? `${opts.outPath} + ${opts.midiPath} (${r.midiNotes} notes)` : opts.outPath;
    const from = opts.moment
      ? ` from the moment at position ${opts.moment.position} (${opts.moment.station ?? 'a personal session'}; ${(r.preRollFrames / SAMPLE_RATE).toFixed(1)} s synthesized first to reach it)`
      : '';
    process.stdout.write(
      `rendered ${(r.frames / SAMPLE_RATE).toFixed(3)} s (${r.frames} frames)${from} seed=${opts.seed} ${describe(opts.params)} → ${files} in ${r.wallSeconds.toFixed(2)} s (${r.realTimeFactor.toFixed(1)}× real time)\n`,
    );
    return 0;
  } catch (e) {
    if (e instanceof ArgError) {
      process.stderr.write(`auralis render: ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (interrupted) {
      process.stderr.write('\nauralis render: interrupted; no file written\n');
      return EXIT_INTERRUPTED;
    }
    process.stderr.write(
      `auralis render: failed: ${e instanceof Error ? e.message : String(e)}; no file written\n`,
    );
    return EXIT_FAILURE;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
