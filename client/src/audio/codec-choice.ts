/**
 * Which wire codec to ask for: `?codec=pcm|opus` in the page URL wins (tests, debugging);
 * otherwise Opus where WebCodecs can decode it, PCM where it cannot.
 */
export type WireCodec = 'opus' | 'pcm';

export function codecFromUrl(search: string): WireCodec | null {
  const value = new URLSearchParams(search).get('codec');
  return value === 'pcm' || value === 'opus' ? value : null;
}

export async function chooseCodec(search: string, opusSupported: () => Promise<boolean>): Promise<WireCodec> {
  const forced = codecFromUrl(search);
  if (forced === 'pcm') return 'pcm';
  return (await opusSupported()) ? 'opus' : 'pcm';
}
