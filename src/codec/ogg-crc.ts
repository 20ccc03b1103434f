/**
 * The Ogg page checksum (RFC 3533 §6): CRC-32 with polynomial 0x04c11db7, MSB first (not
 * reflected), initial value 0, no final XOR, computed over the page with its CRC field zeroed.
 * Not the zlib CRC-32 (which is reflected), so Node's zlib.crc32 cannot be used.
 */
const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x8000_0000 ? (r << 1) ^ 0x04c1_1db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
}

/** CRC of bytes[start, end), continuing from `crc` (0 for a fresh page). */
export function oggCrc32(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  let c = crc >>> 0;
  for (let i = start; i < end; i++) c = ((c << 8) ^ TABLE[((c >>> 24) ^ bytes[i]!) & 0xff]!) >>> 0;
  return c;
}
