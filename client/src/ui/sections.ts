import { REGION_MAX_SECONDS, REGION_MIN_SECONDS, REGION_NAMES } from '../../../src/music/region.ts';

/**
 * What a section word of the `now` message means, for the listener. The words (`open`, `drift`,
 * `bloom`…, src/music/region.ts) name harmonic regions: each region favours a few chords, a
 * register and a density for 30–90 s. The word is drawn at random to tell regions apart; it does
 * not describe the sound, and the explanation says so rather than invent a character for it.
 */
export function explainSection(section: string): string {
  if (section === 'intro') return 'Intro: the first moments, before the first section is chosen.';
  const named = (REGION_NAMES as readonly string[]).includes(section) ? `“${section}”` : section;
  return (
    `Section ${named}: every ${REGION_MIN_SECONDS}–${REGION_MAX_SECONDS} s the music moves to a new ` +
    'section that favours other chords, a new register and density. The word is only its name.'
  );
}
