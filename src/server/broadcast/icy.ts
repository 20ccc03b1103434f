/**
 * ICY (SHOUTcast/Icecast) in-band metadata for the MP3 stream. A client that sends
 * `Icy-MetaData: 1` gets `icy-metaint: N` and, after every N audio bytes, one metadata block: a
 * length byte L, then L × 16 bytes of `StreamTitle='…';` padded with zeros. L = 0 (a single zero
 * byte) means "title unchanged"; Auralis sends the full block to each listener whenever the title
 * changed since that listener's previous block (and always in its first one), as Icecast does.
 *
 * The block is built once per title change and shared by every listener of the station; the
 * per-listener state is one counter and one reference, so the pacer's per-chunk work allocates
 * nothing except at a metadata point (about once a second per listener), where the chunk is
 * written as two views around the block.
 */

/** Audio bytes between two metadata blocks: 1 s at the default 128 kb/s (as Icecast's default). */
export const ICY_METAINT = 16_000;
/** A title longer than this is cut (255 blocks of 16 bytes is the format's limit). */
const MAX_TITLE_CHARS = 200;
/** The block that says "no change". */
export const ICY_UNCHANGED = Buffer.from([0]);

/** Builds the metadata block for `title` (printable ASCII; other characters and quotes become `?`). */
export function icyMetadataBlock(title: string): Buffer {
  let clean = '';
  for (const ch of title.slice(0, MAX_TITLE_CHARS)) {
    const c = ch.charCodeAt(0);
    clean += c >= 0x20 && c < 0x7f && ch !== "'" ? ch : '?';
  }
  const text = `StreamTitle='${clean}';`;
  const blocks = Math.ceil(text.length / 16);
  const out = Buffer.alloc(1 + blocks * 16);
  out[0] = blocks;
  out.write(text, 1, 'latin1');
  return out;
}

/** Where a listener's next metadata block goes, and which title block it last got. */
export class IcyCursor {
  readonly metaint: number;
  /** Audio bytes still to send before the next metadata block. */
  untilMeta: number;
  private lastBlock: Buffer | null = null;
  private readonly source: { icyBlock(): Buffer };

  constructor(source: { icyBlock(): Buffer }, metaint = ICY_METAINT) {
    this.metaint = metaint;
    this.untilMeta = metaint;
    this.source = source;
  }

  /** The block to send now: the current title's when it changed since the last one, else "unchanged". */
  nextBlock(): Buffer {
    const b = this.source.icyBlock();
    if (b === this.lastBlock) return ICY_UNCHANGED;
    this.lastBlock = b;
    return b;
  }
}
