import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Finding and checking a SoundFont 2 file without parsing it (no synthesizer loaded): used by the
 * configuration and the render command before anything else starts. The layer is in soundfont.ts.
 */

/** Where a SoundFont is looked for when none is named, in this order (Debian's packages). */
export const SOUNDFONT_DIR = '/usr/share/sounds/sf2';
export const SOUNDFONT_CANDIDATES = ['default-GM.sf2', 'TimGM6mb.sf2', 'FluidR3_GM.sf2'] as const;
/** Largest SoundFont accepted (bytes): FluidR3_GM is 148 MB; a bigger bank is a mistake. */
export const SOUNDFONT_MAX_BYTES = 512 * 1024 * 1024;

/**
 * Why `path` cannot be a SoundFont 2 file (missing, unreadable, too big, not RIFF/sfbk), or null.
 * Cheap: reads 12 bytes (the server checks this at start-up; the engine parses lazily).
 */
export function soundFontProblem(path: string): string | null {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) return `${path} is not a file`;
    size = st.size;
  } catch (err) {
    return `${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  if (size > SOUNDFONT_MAX_BYTES) return `${path} is over ${SOUNDFONT_MAX_BYTES / 1024 / 1024} MiB`;
  const head = Buffer.alloc(12);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    return `${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  try {
    if (readSync(fd, head, 0, 12, 0) !== 12) return `${path} is not a SoundFont 2 file (too short)`;
  } finally {
    closeSync(fd);
  }
  if (head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'sfbk')
    return `${path} is not a SoundFont 2 file (no RIFF sfbk header)`;
  return null;
}

/** The first SoundFont found among the default places, or null. */
export function findDefaultSoundFont(dir: string = SOUNDFONT_DIR): string | null {
  for (const name of SOUNDFONT_CANDIDATES) {
    const p = join(dir, name);
    if (soundFontProblem(p) === null) return p;
  }
  return null;
}
