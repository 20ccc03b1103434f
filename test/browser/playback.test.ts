import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  RMS_THRESHOLD,
  clickPlayAndTimeFirstAudio,
  openPlayer,
  screenshot,
  stats,
  waitFor,
  serverAndBrowser,
} from './browser-helpers.ts';

describe('web player playback in Chromium', () => {
  const env = serverAndBrowser();

  it(
    'plays audible music within 1 s of the click, then 30 s on loopback without an underrun',
    { timeout: 90_000 },
    async () => {
      const { context, page, errors, requests } = await openPlayer(env.browser, env.server.url);
      const firstAudioMs = await clickPlayAndTimeFirstAudio(page);
      console.log(`first audio after click: ${firstAudioMs?.toFixed(0)} ms`);
      assert.ok(firstAudioMs !== null && firstAudioMs < 1000, `first audio after ${firstAudioMs} ms`);
      const s0 = await stats(page);
      assert.equal(s0.codec, 'opus', 'Chromium has WebCodecs: the player must ask for Opus');

      // 30 s of listening, sampled twice a second.
      const startFrames = s0.playedFrames;
      const t0 = Date.now();
      let quiet = 0;
      let samples = 0;
      let maxTargetMs = 0;
      let s = s0;
      while (Date.now() - t0 < 30_000) {
        await new Promise((r) => setTimeout(r, 500));
        s = await stats(page);
        samples++;
        if (s.rms < RMS_THRESHOLD) quiet++;
        maxTargetMs = Math.max(maxTargetMs, s.targetMs);
      }
      const elapsedS = (Date.now() - t0) / 1000;
      const playedS = (s.playedFrames - startFrames) / 48_000;
      console.log(
        `30 s loopback: underruns ${s.underruns}, target ${s.targetMs.toFixed(0)} ms (max ${maxTargetMs.toFixed(0)}), ` +
          `buffered ${s.bufferedMs.toFixed(0)} ms, jitter ${s.jitterMs.toFixed(1)} ms, rtt ${s.rttMs?.toFixed(1)} ms, ` +
          `played ${playedS.toFixed(2)} s in ${elapsedS.toFixed(2)} s, quiet samples ${quiet}/${samples}`,
      );
      assert.equal(s.underruns, 0);
      assert.equal(s.state, 'playing');
      assert.ok(Math.abs(playedS - elapsedS) < 1, `played ${playedS} s of audio in ${elapsedS} s`);
      assert.ok(quiet <= 2, `${quiet} of ${samples} samples were silent`);
      assert.ok(s.targetMs <= 300, `target ${s.targetMs} ms on loopback`);
      assert.ok((await page.textContent('#conn-text'))?.includes('Live'));
      assert.notEqual(await page.textContent('#chord'), '—', 'now playing shows a chord');
      // The lock screen / media keys see what plays (Media Session).
      const meta = (await page.evaluate(
        `(() => { const m = navigator.mediaSession.metadata; return m && { title: m.title, artist: m.artist, album: m.album }; })()`,
      )) as { title: string; artist: string; album: string } | null;
      // Title: the chord and section; artist: Auralis — the station; album: [preset ·] key and mode.
      assert.match(meta?.title ?? '', /^[A-G][^ ]* · [A-Z]/);
      assert.equal(meta?.artist, 'Auralis — default');
      assert.match(
        meta?.album ?? '',
        /^(?:[A-Z][a-z]+ · )?[A-G]#? (Ionian|Dorian|Phrygian|Lydian|Mixolydian|Aeolian)$/,
      );
      // The player's own stats messages (every 2 s) reached the server's metrics.
      const metrics = await (await fetch(`${env.server.url}/metrics`)).text();
      const reports = Number(
        /^auralis_client_buffer_seconds_count(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? 0,
      );
      assert.ok(reports >= 10, `${reports} stats reports in the metrics`);
      // Everything the page loaded (the worklet included) came from our server: no CDN.
      const foreign = requests.filter((u) => !u.startsWith(env.server.url) && !/^(data|blob):/.test(u));
      assert.deepEqual(foreign, []);
      // The audio went through the built AudioWorklet (a failed addModule falls back to <audio>).
      assert.equal(s.path, 'worklet');
      await screenshot(page, 'desktop');
      assert.deepEqual(errors, []);
      await context.close();
    },
  );

  it('falls back to PCM with ?codec=pcm and plays it', { timeout: 30_000 }, async () => {
    const { context, page, errors } = await openPlayer(env.browser, `${env.server.url}/?codec=pcm`);
    const firstAudioMs = await clickPlayAndTimeFirstAudio(page);
    console.log(`first audio (PCM) after click: ${firstAudioMs?.toFixed(0)} ms`);
    assert.ok(firstAudioMs !== null && firstAudioMs < 1500, `first audio after ${firstAudioMs} ms`);
    const s = await waitFor(
      () => stats(page),
      (v) => v.playedFrames > 48_000,
      5000,
    );
    assert.equal(s.codec, 'pcm');
    assert.ok(s.rms > RMS_THRESHOLD, `rms ${s.rms}`);
    assert.deepEqual(errors, []);
    await context.close();
  });

  it(
    'plays the Ogg/Opus stream through <audio> where the worklet is not used (?engine=stream)',
    { timeout: 30_000 },
    async () => {
      const { context, page, errors, requests } = await openPlayer(
        env.browser,
        `${env.server.url}/?engine=stream`,
      );
      assert.equal(await page.inputValue('#engine'), 'stream');
      await page.click('#play');
      const s = await waitFor(
        () => stats(page),
        (v) => v.state === 'playing' && v.playedFrames > 48_000,
        10_000,
      );
      assert.equal(s.codec, 'ogg');
      assert.equal(s.state, 'playing');
      assert.ok(s.playedFrames > 48_000, `the <audio> element played ${s.playedFrames / 48_000} s`);
      const src = (await page.evaluate(`document.getElementById('stream').currentSrc`)) as string;
      assert.match(src, /\/stream\/default\.ogg/);
      // No WebSocket on this path: what is sounding comes from the now-playing event stream, into the
      // page and the Media Session alike.
      assert.ok(
        requests.some((u) => u.endsWith('/api/stations/default/now')),
        'the event stream was opened',
      );
      // Both read in one evaluation, so a chord change cannot fall between them.
      const [chordText, title] = await waitFor(
        () =>
          page.evaluate(
            `[document.getElementById('chord').textContent, navigator.mediaSession.metadata?.title ?? '']`,
          ) as Promise<[string, string]>,
        ([t]) => t !== '—' && t !== '',
        10_000,
      );
      assert.ok(title.startsWith(`${chordText} · `), `Media Session title ${title} for chord ${chordText}`);
      await page.click('#play');
      await waitFor(
        () => page.evaluate(`document.getElementById('stream').paused`),
        (paused) => paused === true,
        3000,
      );
      assert.deepEqual(errors, []);
      await context.close();
    },
  );

  it(
    'fades out on pause and stops the socket; plays again on the next click',
    { timeout: 30_000 },
    async () => {
      const { context, page } = await openPlayer(env.browser, env.server.url);
      assert.ok((await clickPlayAndTimeFirstAudio(page)) !== null);
      await page.waitForTimeout(1500);
      await page.click('#play');
      const paused = await waitFor(
        () => stats(page),
        (v) => v.state === 'stopped' && v.rms < 1e-4,
        3000,
      );
      assert.equal(paused.state, 'stopped');
      assert.ok(paused.rms < 1e-4, `rms after pause ${paused.rms}`);
      // The button's accessible name says what it will do.
      assert.equal((await page.textContent('#play-label'))?.trim(), 'Play');
      // Nothing left connected: the server has no listener any more.
      const status = await waitFor(
        () => fetch(`${env.server.url}/api/status`).then((r) => r.json() as Promise<{ listeners: number }>),
        (v) => v.listeners === 0,
        3000,
      );
      assert.equal(status.listeners, 0);
      assert.ok((await clickPlayAndTimeFirstAudio(page)) !== null, 'plays again');
      await context.close();
    },
  );
});
