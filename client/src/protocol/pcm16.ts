/** Interleaved `pcm_s16le` to planar float, into new arrays (they are transferred to the worklet). */
export function decodePcm16(payload: Uint8Array, channels: number, frames: number): Float32Array[] {
  const available = Math.floor(payload.byteLength / (2 * channels));
  const n = Math.min(frames, available);
  const view = new DataView(payload.buffer, payload.byteOffset, n * channels * 2);
  const planes: Float32Array[] = [];
  for (let c = 0; c < channels; c++) planes.push(new Float32Array(n));
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < channels; c++) planes[c][i] = view.getInt16((i * channels + c) * 2, true) / 32768;
  }
  return planes;
}
