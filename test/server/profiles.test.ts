import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect, json, pcmToFloat, sleep, withServer } from './helpers.ts';

describe('baseline profile (docs/performance/), kept to measure against', () => {
  it('streams continuous, paced, audible chunks rendered on the main loop and encoded per listener', async () => {
    await withServer({ profile: 'baseline' }, async (server) => {
      const pcm = await connect(server, 'codec=pcm');
      const opus = await connect(server, 'codec=opus');
      await pcm.waitChunks(2);
      await sleep(1500);
      const chunks = pcm.chunks.slice();
      assert.ok(chunks.length >= 12 && chunks.length <= 20, `${chunks.length} chunks in ~1.6 s`);
      for (let i = 1; i < chunks.length; i++) {
        assert.equal(chunks[i]!.header.sequence, chunks[i - 1]!.header.sequence + 1);
        assert.equal(chunks[i]!.header.positionFrames, chunks[i]!.header.sequence * 4800);
      }
      let sum = 0;
      let n = 0;
      for (const c of chunks) {
        for (const v of pcmToFloat(c.payload).l) {
          sum += v * v;
          n++;
        }
      }
      assert.ok(Math.sqrt(sum / n) > 0.003, 'audible');
      assert.ok(opus.chunks.length >= 10);
      assert.equal(opus.chunks[0]!.header.codec, 1);
      const r = await json(server, 'PATCH', '/api/stations/default', { bpm: 55 });
      assert.equal(r.status, 200);
      const stream = await fetch(`${server.url}/stream/default.ogg`);
      assert.equal(stream.status, 503);
      pcm.close();
      opus.close();
    });
  });
});
