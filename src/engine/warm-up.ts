import { encodePcm16 } from '../codec/pcm16.ts';
import { OpusChunkEncoder } from '../codec/opus-encoder.ts';
import { DEFAULT_PARAMS } from '../music/params.ts';
import { StationRenderer } from './station-renderer.ts';

/** Audio rendered (and thrown away) when a worker starts: enough for the JIT to compile the hot paths. */
const WARM_UP_CHUNKS = 8;
const WARM_UP_CHUNK_FRAMES = 4800;

/**
 * Renders and encodes a couple of seconds of a throwaway station, once per worker, before the worker
 * says it is ready. Without it the first real chunks run through cold code (measured: 4–5 ms a chunk
 * instead of ~0.5 ms, and far more on a loaded machine), and a new station's first chunks are late.
 * Returns the milliseconds it took.
 */
export function warmUp(): number {
  const t0 = performance.now();
  const renderer = new StationRenderer({ seed: 1, params: DEFAULT_PARAMS });
  const opus = new OpusChunkEncoder();
  const left = new Float32Array(WARM_UP_CHUNK_FRAMES);
  const right = new Float32Array(WARM_UP_CHUNK_FRAMES);
  const out = new Uint8Array(OpusChunkEncoder.maxBytes(WARM_UP_CHUNK_FRAMES) + WARM_UP_CHUNK_FRAMES * 4);
  for (let i = 0; i < WARM_UP_CHUNKS; i++) {
    renderer.render(left, right, WARM_UP_CHUNK_FRAMES);
    opus.encode(left, right, WARM_UP_CHUNK_FRAMES, out, 0);
    encodePcm16(left, right, WARM_UP_CHUNK_FRAMES, out, 0);
  }
  opus.close();
  return performance.now() - t0;
}
