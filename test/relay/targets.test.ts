import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseFlags } from '../../src/server/config.ts';
import { scrubLine } from '../../src/server/log.ts';
import {
  icecastSecrets,
  parseIcecastTarget,
  parseIcecastTargets,
  redactCredentials,
  type IcecastTarget,
} from '../../src/relay/targets.ts';

const PW = 's3cret-Pa55';

describe('--icecast STATION=URL', () => {
  it('parses the station, the mount, the stream kind and the credentials', () => {
    const t = parseIcecastTarget(
      `jazz=http://source:${PW}@icecast.example:8010/live/jazz.ogg`,
    ) as IcecastTarget;
    assert.equal(typeof t, 'object');
    assert.deepEqual(
      { ...t },
      {
        station: 'jazz',
        kind: 'ogg',
        host: 'icecast.example',
        port: 8010,
        mount: '/live/jazz.ogg',
        user: 'source',
        password: PW,
        safeUrl: 'http://source:[redacted]@icecast.example:8010/live/jazz.ogg',
      },
    );
    const m = parseIcecastTarget(`default=http://dj:p%40ss@[::1]/a.MP3`) as IcecastTarget;
    assert.equal(m.kind, 'mp3', 'a mount ending in .mp3 gets MP3');
    assert.equal(m.host, '::1');
    assert.equal(m.port, 80);
    assert.equal(m.user, 'dj');
    assert.equal(m.password, 'p@ss');
  });

  it('refuses bad items with a message naming the setting and never the password', () => {
    const bad = [
      [`http://source:${PW}@h:8000/a.ogg`, /expected STATION=URL/],
      [`Bad_Id=http://source:${PW}@h:8000/a.ogg`, /must match/],
      [`default=https://source:${PW}@h:8000/a.ogg`, /must be an http:\/\/ URL/],
      ['default=http://source@h:8000/a.ogg', /no source password/],
      [`default=http://source:${PW}@h:8000/`, /needs a mount path/],
      [`default=http://source:${PW}@h:8000/a.ogg?x=1`, /query or fragment/],
      [`default=not a url ${PW}`, /is not a URL/],
    ] as const;
    for (const [item, why] of bad) {
      for (const load of [
        () => loadConfig({}, { AURALIS_ICECAST: item }),
        () => loadConfig(parseFlags(['--icecast', item])),
      ]) {
        assert.throws(
          load,
          (e: unknown) =>
            e instanceof ConfigError &&
            e.setting === 'icecast' &&
            /icecast \((--icecast|env AURALIS_ICECAST)\)/.test(e.message) &&
            why.test(e.message) &&
            !e.message.includes('Pa55'),
          item,
        );
      }
    }
    const twice = `a=http://source:${PW}@h:8000/x.ogg,b=http://source:${PW}@h:8000/x.ogg`;
    assert.throws(
      () => loadConfig({}, { AURALIS_ICECAST: twice }),
      (e: unknown) =>
        e instanceof ConfigError && /one source per mount/.test(e.message) && !e.message.includes(PW),
    );
  });

  it('is refused under the baseline profile (no HTTP stream listeners there)', () => {
    assert.throws(
      () => loadConfig({ profile: 'baseline', icecast: [`a=http://source:${PW}@h:8000/a.ogg`] }),
      (e: unknown) =>
        e instanceof ConfigError && e.setting === 'icecast' && /--profile optimized/.test(e.message),
    );
  });

  it('adds up repeated flags', () => {
    const c = loadConfig(
      parseFlags([
        '--icecast',
        `a=http://source:${PW}@h:8000/a.ogg`,
        `--icecast=b=http://source:${PW}@h:8000/b.mp3`,
      ]),
    );
    assert.equal(c.icecast.length, 2);
    const targets = parseIcecastTargets(c.icecast) as IcecastTarget[];
    assert.deepEqual(
      targets.map((t) => [t.station, t.kind]),
      [
        ['a', 'ogg'],
        ['b', 'mp3'],
      ],
    );
  });

  it('redacts user:password@ in any text, and the log scrubber knows the passwords', () => {
    assert.equal(
      redactCredentials(`connect http://source:${PW}@h:1/a.ogg and http://u:v@x/y failed`),
      'connect http://source:[redacted]@h:1/a.ogg and http://u:[redacted]@x/y failed',
    );
    assert.equal(redactCredentials('http://h:8000/a.ogg'), 'http://h:8000/a.ogg', 'a port is no password');
    const secrets = icecastSecrets([`a=http://source:${PW}@h:8000/a.ogg`]);
    assert.deepEqual(secrets, [PW]);
    assert.ok(!scrubLine(`{"msg":"oops ${PW}"}`, secrets).includes(PW));
  });
});
