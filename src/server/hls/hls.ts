import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AuralisMetrics, HlsRequestKind } from '../../metrics/metrics.ts';
import type { ServerContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { quote } from '../http-errors.ts';
import { nowPlaying, streamTitle } from '../now-playing.ts';
import type { Station } from '../station.ts';
import { masterPlaylist, MP3_CODECS, PLAYLIST_CONTENT_TYPE } from './playlist.ts';
import { HlsSegmenter } from './segmenter.ts';

/** The one rendition: MP3 at the configured bitrate. */
export const MP3_RENDITION = 'mp3';
/** Segments are immutable (their URL names the station's timeline and their first chunk). */
const SEGMENT_CACHE_CONTROL = 'public, max-age=31536000, immutable';

/**
 * HLS for every station (not personal sessions): `GET /hls/<station>.m3u8` (master playlist),
 * `/hls/<station>/mp3.m3u8` (live media playlist), `/hls/<station>/<epoch>/<seq>.mp3` (segments).
 * A station's segmenter is made by its first HLS request and released once no HLS request came
 * for `hlsLeaseMs`; while it exists it counts as one MP3 listener, so the engine encodes MP3.
 */
export class HlsService {
  private readonly ctx: ServerContext;
  private readonly metrics: AuralisMetrics;
  private readonly segmenters = new Map<Station, HlsSegmenter>();
  /** The media sequence number a station's next segmenter starts from (kept increasing). */
  private readonly nextMsn = new WeakMap<Station, number>();

  constructor(ctx: ServerContext, metrics: AuralisMetrics) {
    this.ctx = ctx;
    this.metrics = metrics;
  }

  get activeStations(): number {
    return this.segmenters.size;
  }

  /** The station's segmenter, made on first use; the lease is renewed. */
  acquire(st: Station): HlsSegmenter {
    let seg = this.segmenters.get(st);
    if (!seg) {
      const made: HlsSegmenter = new HlsSegmenter({
        engine: st.engine,
        now: () => {
          const np = nowPlaying(st);
          return { title: streamTitle(np), json: JSON.stringify(np) };
        },
        minMsn: this.nextMsn.get(st) ?? 0,
        leaseMs: this.ctx.config.hlsLeaseMs,
        onSegment: () => this.metrics.hlsSegmentsTotal.inc(),
        onExpired: () => this.release(st),
      });
      seg = made;
      this.segmenters.set(st, seg);
      st.hls = seg;
      if (++st.mp3Listeners === 1) this.ctx.engine.setMp3(st.id, true);
      this.metrics.hlsActiveStations.set(this.segmenters.size);
    }
    seg.renew();
    return seg;
  }

  /** Releases the station's segmenter (lease expired, station removed, server closing). */
  release(st: Station): void {
    const seg = this.segmenters.get(st);
    if (!seg) return;
    this.segmenters.delete(st);
    if (st.hls === seg) st.hls = null;
    this.nextMsn.set(st, seg.nextMediaSequence);
    seg.close();
    if (--st.mp3Listeners === 0) this.ctx.engine.setMp3(st.id, false);
    this.metrics.hlsActiveStations.set(this.segmenters.size);
  }

  close(): void {
    for (const st of [...this.segmenters.keys()]) this.release(st);
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
const SEGMENT_FILE = /^(\d{1,15})\.mp3$/;

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
    hls.acquire(st);
    hls.count('master');
    hlsHeaders(reply, PLAYLIST_CONTENT_TYPE, 'max-age=60');
    // Peak: the CBR bitrate, plus an ID3 tag (about 0.5 kB) per ~3 s segment.
    const bw = config.mp3Bitrate;
    return masterPlaylist([
      {
        uri: `${st.id}/${MP3_RENDITION}.m3u8`,
        bandwidth: bw * 1.02,
        averageBandwidth: bw * 1.01,
        codecs: MP3_CODECS,
        name: `MP3 ${bw / 1000} kb/s`,
      },
    ]);
  });

  app.get<{ Params: { id: string; file: string } }>('/hls/:id/:file', async (req, reply) => {
    const st = hls.station(stationId(req.params.id));
    if (req.params.file !== `${MP3_RENDITION}.m3u8`) {
      throw new ApiError(
        'NOT_FOUND',
        `no rendition ${quote(req.params.file)}; this station has ${MP3_RENDITION}.m3u8`,
      );
    }
    const seg = hls.acquire(st);
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
      const seg = hls.acquire(st);
      const m = SEGMENT_FILE.exec(req.params.file);
      const s = m && req.params.epoch === String(seg.epoch) ? seg.segment(Number(m[1])) : undefined;
      if (!s) {
        throw new ApiError(
          'NOT_FOUND',
          `no segment ${quote(`${req.params.epoch}/${req.params.file}`)} of ${st.id} is kept; ` +
            `reload /hls/${st.id}/${MP3_RENDITION}.m3u8`,
        );
      }
      hls.count('segment');
      hlsHeaders(reply, 'audio/mpeg', SEGMENT_CACHE_CONTROL);
      void reply.header('etag', `"${seg.epoch}-${s.firstSeq}"`);
      return s.bytes;
    },
  );
}
