import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AuralisMetrics, HlsRequestKind } from '../../metrics/metrics.ts';
import type { ServerContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { quote } from '../http-errors.ts';
import { nowPlaying, streamTitle } from '../now-playing.ts';
import type { Station } from '../station.ts';
import { opusInitSegment } from './fmp4.ts';
import { masterPlaylist, MP3_CODECS, OPUS_CODECS, PLAYLIST_CONTENT_TYPE } from './playlist.ts';
import { HlsSegmenter, type HlsCodec } from './segmenter.ts';

/** Segments are immutable (their URL names the station's timeline and their first chunk). */
const SEGMENT_CACHE_CONTROL = 'public, max-age=31536000, immutable';
const CODECS: readonly HlsCodec[] = ['mp3', 'opus'];

/**
 * Feeds a new segmenter the chunks the pacer already published that the ring still holds, from
 * the first segment line among them: the Opus rendition (always encoded), and MP3 while
 * `/stream/<station>.mp3` has listeners, have whole segments at once instead of after up to a
 * segment's length. The oldest chunk read is a second (10 chunks at 100 ms) of writes away from
 * being rewritten by the engine, and the reads take microseconds.
 */
function backfill(st: Station, seg: HlsSegmenter): void {
  const ring = st.engine.ring;
  const n = seg.chunksPerSegment;
  const margin = Math.ceil(1000 / st.chunkMs);
  const from = Math.ceil(Math.max(0, ring.published() - ring.layout.slots + margin) / n) * n;
  for (let seq = from; seq < st.nextSeq; seq++) if (ring.has(seq)) seg.chunk(seq);
}

/** A station's segmenters (one per rendition in use); the pacer calls `chunk` for each chunk it publishes. */
class StationHls {
  readonly by: Record<HlsCodec, HlsSegmenter | null> = { mp3: null, opus: null };
  /** The fMP4 init segment of the Opus rendition, built on first use. */
  init: Buffer | null = null;
  chunk(seq: number): void {
    this.by.mp3?.chunk(seq);
    this.by.opus?.chunk(seq);
  }
}

/**
 * HLS for every station (not personal sessions): `GET /hls/<station>.m3u8` (master playlist),
 * `/hls/<station>/mp3.m3u8` and `/hls/<station>/opus.m3u8` (live media playlists),
 * `/hls/<station>/<epoch>/<seq>.mp3` and `.m4s` (segments), `/hls/<station>/<epoch>/init.mp4`
 * (the Opus rendition's init segment). A rendition's segmenter is made by the first request for it
 * (the master playlist counts as one for MP3) and released once no request for it came for
 * `hlsLeaseMs`; while the MP3 one exists it counts as one MP3 listener, so the engine encodes MP3.
 * The Opus rendition packs the station's Opus stream (encoded anyway) into fragmented MP4.
 */
export class HlsService {
  private readonly ctx: ServerContext;
  private readonly metrics: AuralisMetrics;
  private readonly stations = new Map<Station, StationHls>();
  /** The media sequence number a station's next segmenter starts from (kept increasing). */
  private readonly nextMsn: Record<HlsCodec, WeakMap<Station, number>> = {
    mp3: new WeakMap(),
    opus: new WeakMap(),
  };

  constructor(ctx: ServerContext, metrics: AuralisMetrics) {
    this.ctx = ctx;
    this.metrics = metrics;
  }

  get activeStations(): number {
    return this.stations.size;
  }

  /** The station's segmenter of `codec`, made on first use; its lease is renewed. */
  acquire(st: Station, codec: HlsCodec): HlsSegmenter {
    let hub = this.stations.get(st);
    if (!hub) {
      hub = new StationHls();
      this.stations.set(st, hub);
      st.hls = hub;
      this.metrics.hlsActiveStations.set(this.stations.size);
    }
    let seg = hub.by[codec];
    if (!seg) {
      // A lease keeps the station live: an idle one wakes up before the segmenter starts.
      this.ctx.registry.wake(st);
      seg = new HlsSegmenter({
        codec,
        engine: st.engine,
        now: () => {
          const np = nowPlaying(st);
          return { title: streamTitle(np), json: JSON.stringify(np) };
        },
        minMsn: this.nextMsn[codec].get(st) ?? 0,
        leaseMs: this.ctx.config.hlsLeaseMs,
        onSegment: () => this.metrics.hlsSegmentsTotal.inc(),
        onExpired: () => this.release(st, codec),
      });
      hub.by[codec] = seg;
      st.hlsLeases++;
      this.ctx.registry.consumersChanged(st);
      if (codec === 'mp3' && ++st.mp3Listeners === 1) this.ctx.engine.setMp3(st.id, true);
      backfill(st, seg);
    }
    seg.renew();
    return seg;
  }

  /** The Opus rendition's init segment (ftyp + moov with dOps). */
  initSegment(st: Station): Buffer {
    const hub = this.stations.get(st)!;
    hub.init ??= opusInitSegment(2, st.engine.preSkipFrames);
    return hub.init;
  }

  /** Releases the station's segmenter of `codec` (or all): lease expired, station removed, server closing. */
  release(st: Station, only?: HlsCodec): void {
    const hub = this.stations.get(st);
    if (!hub) return;
    for (const codec of CODECS) {
      const seg = hub.by[codec];
      if (!seg || (only !== undefined && only !== codec)) continue;
      hub.by[codec] = null;
      this.nextMsn[codec].set(st, seg.nextMediaSequence);
      seg.close();
      if (codec === 'mp3' && --st.mp3Listeners === 0) this.ctx.engine.setMp3(st.id, false);
      st.hlsLeases--;
      this.ctx.registry.consumersChanged(st);
    }
    if (hub.by.mp3 === null && hub.by.opus === null) {
      this.stations.delete(st);
      if (st.hls === hub) st.hls = null;
      this.metrics.hlsActiveStations.set(this.stations.size);
    }
  }

  close(): void {
    for (const st of [...this.stations.keys()]) this.release(st);
  }

  /** The station for an HLS request, or the error the request gets. */
  station(id: string): Station {
    if (this.ctx.closing) throw new ApiError('NOT_READY', 'the server is shutting down');
    const st = this.ctx.registry.get(id);
    if (!st) throw new ApiError('UNKNOWN_STATION', `no station ${quote(id)}`, 'id');
    if (st.personal) {
      // A personal session's id is its capability: HLS URLs end up in players' histories, logs and
      // caches, so personal sessions are served over /ws and /stream only.
      throw new ApiError('FORBIDDEN', 'personal sessions are not served over HLS; use /ws or /stream', 'id');
    }
    if (this.ctx.config.profile === 'baseline') {
      throw new ApiError(
        'NOT_READY',
        'the baseline profile serves WebSocket listeners only; use --profile optimized',
      );
    }
    return st;
  }

  count(kind: HlsRequestKind): void {
    this.metrics.hlsRequestsTotal.inc({ kind });
  }
}

const STATION_FILE = /^([a-z0-9-]{1,32})\.m3u8$/;
const STATION_ID = /^[a-z0-9-]{1,32}$/;
const RENDITION_FILE = /^(mp3|opus)\.m3u8$/;
const SEGMENT_FILE = /^(\d{1,15})\.(mp3|m4s)$/;
const SEGMENT_CODEC: Record<string, HlsCodec> = { mp3: 'mp3', m4s: 'opus' };

function hlsHeaders(reply: FastifyReply, contentType: string, cacheControl: string): void {
  void reply
    .type(contentType)
    .header('cache-control', cacheControl)
    // Playable from pages on other origins (hls.js fetches with CORS; Safari loads it as media).
    .header('access-control-allow-origin', '*')
    .header('cross-origin-resource-policy', 'cross-origin');
}

function stationId(id: string): string {
  if (!STATION_ID.test(id)) throw new ApiError('UNKNOWN_STATION', `no station ${quote(id)}`, 'id');
  return id;
}

/** The HLS routes (registered where HTTP requests count against the per-address rate limit). */
export function registerHlsRoutes(app: FastifyInstance, ctx: ServerContext, hls: HlsService): void {
  const { config } = ctx;
  app.get<{ Params: { file: string } }>('/hls/:file', async (req, reply) => {
    const m = STATION_FILE.exec(req.params.file);
    if (!m) throw new ApiError('NOT_FOUND', `no playlist ${quote(req.params.file)}; use /hls/<station>.m3u8`);
    const st = hls.station(m[1]!);
    hls.acquire(st, 'mp3');
    hls.count('master');
    hlsHeaders(reply, PLAYLIST_CONTENT_TYPE, 'max-age=60');
    // Peak bandwidth: the bitrate plus the container (an ID3 tag of about 0.5 kB per ~3 s segment
    // for MP3; moof/trun, 4 bytes a 20 ms packet and about 130 bytes a segment, for Opus).
    return masterPlaylist([
      {
        uri: `${st.id}/mp3.m3u8`,
        bandwidth: config.mp3Bitrate * 1.02,
        averageBandwidth: config.mp3Bitrate * 1.01,
        codecs: MP3_CODECS,
        name: `MP3 ${config.mp3Bitrate / 1000} kb/s`,
      },
      {
        uri: `${st.id}/opus.m3u8`,
        bandwidth: config.opusBitrate * 1.05 + 2000,
        averageBandwidth: config.opusBitrate + 2000,
        codecs: OPUS_CODECS,
        name: `Opus ${config.opusBitrate / 1000} kb/s (fragmented MP4)`,
      },
    ]);
  });

  app.get<{ Params: { id: string; file: string } }>('/hls/:id/:file', async (req, reply) => {
    const st = hls.station(stationId(req.params.id));
    const m = RENDITION_FILE.exec(req.params.file);
    if (!m) {
      throw new ApiError(
        'NOT_FOUND',
        `no rendition ${quote(req.params.file)}; this station has mp3.m3u8 and opus.m3u8`,
      );
    }
    const seg = hls.acquire(st, m[1] as HlsCodec);
    // MP3 may just have been switched on: wait (bounded) for the first segment rather than answer
    // an empty playlist, which players take for a dead stream.
    const waitMs = seg.chunksPerSegment * st.chunkMs + config.renderAheadMs + config.leadMs + 1000;
    if (!(await seg.waitForSegment(waitMs))) {
      void reply.header('retry-after', '1');
      throw new ApiError('NOT_READY', `no HLS segment of ${st.id} is ready yet; retry`);
    }
    const text = seg.playlist()!;
    hls.count('media');
    hlsHeaders(reply, PLAYLIST_CONTENT_TYPE, `max-age=${Math.max(1, Math.floor(seg.targetDurationS / 2))}`);
    return text;
  });

  app.get<{ Params: { id: string; epoch: string; file: string } }>(
    '/hls/:id/:epoch/:file',
    async (req, reply) => {
      const st = hls.station(stationId(req.params.id));
      const { epoch, file } = req.params;
      const notKept = (): ApiError =>
        new ApiError(
          'NOT_FOUND',
          `no segment ${quote(`${epoch}/${file}`)} of ${st.id} is kept; reload its media playlist`,
        );
      if (file === 'init.mp4') {
        const seg = hls.acquire(st, 'opus');
        if (epoch !== String(seg.epoch)) throw notKept();
        hls.count('segment');
        hlsHeaders(reply, 'audio/mp4', SEGMENT_CACHE_CONTROL);
        return hls.initSegment(st);
      }
      const m = SEGMENT_FILE.exec(file);
      if (!m) throw notKept();
      const seg = hls.acquire(st, SEGMENT_CODEC[m[2]!]!);
      const s = epoch === String(seg.epoch) ? seg.segment(Number(m[1])) : undefined;
      if (!s) throw notKept();
      hls.count('segment');
      hlsHeaders(reply, m[2] === 'mp3' ? 'audio/mpeg' : 'audio/mp4', SEGMENT_CACHE_CONTROL);
      void reply.header('etag', `"${seg.epoch}-${s.firstSeq}"`);
      return s.bytes;
    },
  );
}
