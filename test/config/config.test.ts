import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, type Config, type ConfigSources } from '../../src/config/load.js';
import { homeDir, statePaths } from '../../src/config/paths.js';
import { DEFAULTS, kebab, SETTING_NAMES, upperSnake } from '../../src/config/settings.js';

let base: string;
let counter = 0;

before(() => {
  base = mkdtempSync(join(tmpdir(), 'coffer-config-test-'));
});
after(() => {
  rmSync(base, { recursive: true, force: true });
});

/** A fresh, empty state root. */
function freshRoot(): string {
  const dir = join(base, `root-${++counter}`);
  mkdirSync(dir);
  return dir;
}

/** A fresh root holding coffer.json with `content` (an object is written as JSON). */
function rootWithConfig(content: unknown): string {
  const root = freshRoot();
  writeFileSync(join(root, 'coffer.json'), typeof content === 'string' ? content : JSON.stringify(content));
  return root;
}

function load(root: string, src: Omit<ConfigSources, 'rootFlag'> = {}): Config {
  return loadConfig({ env: {}, stdoutIsTTY: false, ...src, rootFlag: root });
}

/** Asserts that `fn` throws a ConfigError whose message matches every pattern. */
function assertConfigError(fn: () => unknown, ...patterns: Array<RegExp | string>): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'COFFER_BAD_CONFIG');
    for (const p of patterns) {
      if (typeof p === 'string') assert.ok(err.message.includes(p), `${JSON.stringify(err.message)} lacks ${JSON.stringify(p)}`);
      else assert.match(err.message, p);
    }
    return true;
  });
}

describe('defaults', () => {
  test('match SPEC §3 exactly', () => {
    const root = freshRoot();
    const config = load(root);
    const { paths, configFile, ...settings } = config;
    assert.deepEqual(settings, {
      database: '',
      host: '0.0.0.0',
      port: 2222,
      workers: 1,
      maxConnections: 256,
      maxConnectionsPerIp: 20,
      maxStartups: 64,
      maxStartupsPerIp: 8,
      passwordQueue: 64,
      passwordQueuePerIp: 2,
      maxSessionsPerUser: 10,
      maxAuthTries: 6,
      loginGraceSeconds: 60,
      idleTimeoutSeconds: 900,
      banThreshold: 10,
      banWindowSeconds: 600,
      banSeconds: 900,
      logLevel: 'info',
      logFormat: 'json',
      defaultQuota: 1024 ** 3,
      defaultMaxFiles: 1_000_000,
      symlinks: false,
      legacyScp: true,
      maxHandlesPerSession: 256,
      metadataIo: 'auto',
      shutdownGraceSeconds: 30,
      proxyProtocol: [],
      metricsListen: '',
      hooks: [],
      hookTimeoutSeconds: 30,
    });
    assert.equal(configFile, null);
    assert.deepEqual(paths, statePaths(root));
  });

  test('every setting has a default except logFormat, which depends on stdout', () => {
    assert.deepEqual([...SETTING_NAMES].sort(), [...Object.keys(DEFAULTS), 'logFormat'].sort());
  });

  test('logFormat is pretty when stdout is a TTY, json otherwise', () => {
    const root = freshRoot();
    assert.equal(loadConfig({ env: {}, rootFlag: root, stdoutIsTTY: true }).logFormat, 'pretty');
    assert.equal(loadConfig({ env: {}, rootFlag: root, stdoutIsTTY: false }).logFormat, 'json');
    assert.equal(loadConfig({ env: {}, rootFlag: root }).logFormat, 'json');
  });

  test('an explicit logFormat wins over the TTY default', () => {
    const root = rootWithConfig({ logFormat: 'json' });
    assert.equal(load(root, { stdoutIsTTY: true }).logFormat, 'json');
    assert.equal(load(freshRoot(), { stdoutIsTTY: false, env: { COFFER_LOG_FORMAT: 'pretty' } }).logFormat, 'pretty');
  });

  test('loading does not create anything under the root', () => {
    const root = freshRoot();
    load(root);
    assert.deepEqual(readdirSync(root), []);
  });
});

describe('state root and paths', () => {
  test('--root wins over COFFER_ROOT', () => {
    const fromEnv = freshRoot();
    const fromFlag = freshRoot();
    assert.equal(loadConfig({ env: { COFFER_ROOT: fromEnv }, rootFlag: fromFlag }).paths.root, fromFlag);
  });

  test('COFFER_ROOT is used without --root', () => {
    const root = freshRoot();
    const config = loadConfig({ env: { COFFER_ROOT: root } });
    assert.equal(config.paths.root, root);
    assert.equal(config.paths.dbFile, join(root, 'db', 'coffer.db'));
  });

  test('COFFER_ROOT decides which coffer.json is read', () => {
    const root = rootWithConfig({ port: 4000 });
    const config = loadConfig({ env: { COFFER_ROOT: root } });
    assert.equal(config.port, 4000);
    assert.equal(config.configFile, join(root, 'coffer.json'));
  });

  test('the layout of SPEC §3', () => {
    const root = freshRoot();
    const p = statePaths(root);
    assert.deepEqual(p, {
      root,
      keysDir: join(root, 'keys'),
      dbDir: join(root, 'db'),
      dbFile: join(root, 'db', 'coffer.db'),
      homesDir: join(root, 'homes'),
      defaultConfigFile: join(root, 'coffer.json'),
    });
    assert.equal(homeDir(p, 'alice'), join(root, 'homes', 'alice'));
  });

  test('a relative root is made absolute', () => {
    const p = statePaths('some/where');
    assert.ok(p.root.startsWith('/'), p.root);
    assert.ok(p.root.endsWith('/some/where'), p.root);
  });
});

describe('precedence: defaults < coffer.json < env < flags', () => {
  const fileValues = { port: 1001, maxConnectionsPerIp: 11, defaultQuota: '5M', symlinks: true, logLevel: 'warn', host: '127.0.0.1' };
  const envValues = {
    COFFER_PORT: '2002',
    COFFER_MAX_CONNECTIONS_PER_IP: '22',
    COFFER_DEFAULT_QUOTA: '6G',
    COFFER_SYMLINKS: 'false',
    COFFER_LOG_LEVEL: 'debug',
    COFFER_HOST: '::1',
  };
  const flagValues = { port: '3003', maxConnectionsPerIp: '33', defaultQuota: 'unlimited', symlinks: true, logLevel: 'error', host: 'localhost' };

  test('coffer.json overrides defaults', () => {
    const c = load(rootWithConfig(fileValues));
    assert.equal(c.port, 1001);
    assert.equal(c.maxConnectionsPerIp, 11);
    assert.equal(c.defaultQuota, 5 * 1024 ** 2);
    assert.equal(c.symlinks, true);
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.maxAuthTries, DEFAULTS.maxAuthTries, 'settings not in the file keep their default');
  });

  test('env overrides coffer.json', () => {
    const c = load(rootWithConfig(fileValues), { env: envValues });
    assert.equal(c.port, 2002);
    assert.equal(c.maxConnectionsPerIp, 22);
    assert.equal(c.defaultQuota, 6 * 1024 ** 3);
    assert.equal(c.symlinks, false);
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.host, '::1');
  });

  test('flags override env and coffer.json', () => {
    const c = load(rootWithConfig(fileValues), { env: envValues, flags: flagValues });
    assert.equal(c.port, 3003);
    assert.equal(c.maxConnectionsPerIp, 33);
    assert.equal(c.defaultQuota, null);
    assert.equal(c.symlinks, true);
    assert.equal(c.logLevel, 'error');
    assert.equal(c.host, 'localhost');
  });

  test('each layer only overrides the keys it sets', () => {
    const c = load(rootWithConfig({ port: 1001, banSeconds: 77 }), {
      env: { COFFER_BAN_SECONDS: '88', COFFER_IDLE_TIMEOUT_SECONDS: '0' },
      flags: { idleTimeoutSeconds: '5' },
    });
    assert.equal(c.port, 1001);
    assert.equal(c.banSeconds, 88);
    assert.equal(c.idleTimeoutSeconds, 5);
    assert.equal(c.banWindowSeconds, DEFAULTS.banWindowSeconds);
  });

  test('flags with undefined values are ignored', () => {
    const c = load(rootWithConfig({ port: 1001 }), { flags: { port: undefined } as ConfigSources['flags'] });
    assert.equal(c.port, 1001);
  });

  test('every setting has an env variable COFFER_<UPPER_SNAKE> and a flag --<kebab>', () => {
    assert.equal(upperSnake('maxConnectionsPerIp'), 'MAX_CONNECTIONS_PER_IP');
    assert.equal(kebab('maxConnectionsPerIp'), 'max-connections-per-ip');
    const samples: Record<string, string> = { database: 'postgres://u:p@db.example:5432/coffer', host: '10.0.0.1', logLevel: 'trace', logFormat: 'pretty', defaultQuota: '3M', symlinks: 'yes', legacyScp: 'no', proxyProtocol: '10.0.0.0/8', metadataIo: 'async', metricsListen: '[::1]:9222', hooks: '[{"on":["upload"],"run":["/bin/true"]}]' };
    for (const name of SETTING_NAMES) {
      const value = samples[name] ?? '7';
      const c = load(freshRoot(), { env: { ['COFFER_' + upperSnake(name)]: value } });
      const expected = name === 'defaultQuota' ? 3 * 1024 ** 2 : name === 'symlinks' ? true : name === 'legacyScp' ? false : name === 'proxyProtocol' ? [value] : name === 'hooks' ? JSON.parse(value) : /^\d+$/.test(value) ? 7 : value;
      assert.deepEqual(c[name], expected, name);
    }
  });

  test("workers: a count from 1 to 256, or 'auto' (this machine's CPUs)", () => {
    assert.equal(load(freshRoot(), { env: { COFFER_WORKERS: 'auto' } }).workers, Math.min(256, availableParallelism()));
    assert.equal(load(rootWithConfig({ workers: 'AUTO' })).workers, Math.min(256, availableParallelism()));
    assert.equal(load(rootWithConfig({ workers: 3 })).workers, 3);
    assert.equal(load(freshRoot(), { flags: { workers: '2' } }).workers, 2);
    for (const bad of ['0', '257', '1.5', 'two', '']) {
      assert.throws(() => load(freshRoot(), { flags: { workers: bad } }), /flag --workers must be a whole number from 1 to 256, or 'auto'/, bad);
    }
    assert.throws(() => load(rootWithConfig({ workers: 0 })), /setting 'workers' must be a whole number/);
  });

  test('COFFER_MAX_CONNECTIONS_PER_IP sets maxConnectionsPerIp', () => {
    assert.equal(load(freshRoot(), { env: { COFFER_MAX_CONNECTIONS_PER_IP: '5' } }).maxConnectionsPerIp, 5);
  });

  test('booleans accept the usual spellings, from env and from JSON', () => {
    for (const [text, value] of [['true', true], ['1', true], ['YES', true], [' on ', true], ['false', false], ['0', false], ['No', false], ['off', false]] as const) {
      assert.equal(load(freshRoot(), { env: { COFFER_LEGACY_SCP: text } }).legacyScp, value, text);
    }
    assert.equal(load(rootWithConfig({ legacyScp: false })).legacyScp, false);
    assert.equal(load(freshRoot(), { flags: { legacyScp: false } }).legacyScp, false);
  });

  test('defaultQuota from JSON may be a number of bytes, a size string or null', () => {
    assert.equal(load(rootWithConfig({ defaultQuota: 12345 })).defaultQuota, 12345);
    assert.equal(load(rootWithConfig({ defaultQuota: '1.5G' })).defaultQuota, 1.5 * 1024 ** 3);
    assert.equal(load(rootWithConfig({ defaultQuota: null })).defaultQuota, null);
  });
});

describe('config file', () => {
  test('an explicit --config file is read instead of <root>/coffer.json', () => {
    const root = rootWithConfig({ port: 1001 });
    const other = join(freshRoot(), 'other.json');
    writeFileSync(other, JSON.stringify({ port: 1002 }));
    const c = load(root, { configFlag: other });
    assert.equal(c.port, 1002);
    assert.equal(c.configFile, other);
  });

  test('COFFER_CONFIG names the file; --config wins over it', () => {
    const a = join(freshRoot(), 'a.json');
    const b = join(freshRoot(), 'b.json');
    writeFileSync(a, JSON.stringify({ port: 1111 }));
    writeFileSync(b, JSON.stringify({ port: 2222 + 1 }));
    assert.equal(load(freshRoot(), { env: { COFFER_CONFIG: a } }).port, 1111);
    assert.equal(load(freshRoot(), { env: { COFFER_CONFIG: a }, configFlag: b }).port, 2223);
  });

  test('an explicit config file that does not exist is an error', () => {
    const missing = join(freshRoot(), 'missing.json');
    assertConfigError(() => load(freshRoot(), { configFlag: missing }), missing, 'ENOENT');
    assertConfigError(() => load(freshRoot(), { env: { COFFER_CONFIG: missing } }), missing);
  });

  test('a config path that is a folder is an error', () => {
    const dir = freshRoot();
    assertConfigError(() => load(freshRoot(), { configFlag: dir }), dir);
  });

  test('invalid JSON is an error naming the file', () => {
    const root = rootWithConfig('{ "port": 2222, }');
    assertConfigError(() => load(root), join(root, 'coffer.json'), /not valid JSON/);
    assertConfigError(() => load(rootWithConfig('')), /not valid JSON/);
  });

  test('JSON that is not an object is an error', () => {
    for (const text of ['[]', '[{"port": 1}]', '42', '"port"', 'null', 'true']) {
      const root = rootWithConfig(text);
      assertConfigError(() => load(root), join(root, 'coffer.json'), /one JSON object/);
    }
  });

  test('an empty object is fine', () => {
    const root = rootWithConfig({});
    const c = load(root);
    assert.equal(c.configFile, join(root, 'coffer.json'));
    assert.equal(c.port, DEFAULTS.port);
  });
});

describe('refusals', () => {
  test('an unknown key in coffer.json is refused, named, with a did-you-mean hint', () => {
    const root = rootWithConfig({ port: 2300, maxConection: 5 });
    assertConfigError(() => load(root), "'maxConection'", 'did you mean maxConnections?', join(root, 'coffer.json'));
  });

  test('a key in the wrong case gets a hint too', () => {
    assertConfigError(() => load(rootWithConfig({ MaxAuthTries: 3 })), "'MaxAuthTries'", 'did you mean maxAuthTries?');
  });

  test('an unknown key far from any setting gets no hint', () => {
    assert.throws(
      () => load(rootWithConfig({ completelyUnrelatedThing: 1 })),
      (err: unknown) => err instanceof ConfigError && err.message.includes("'completelyUnrelatedThing'") && !err.message.includes('did you mean'),
    );
  });

  test('keys inherited from Object.prototype are unknown keys too', () => {
    for (const key of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      const root = rootWithConfig(`{"${key}": 1}`);
      assertConfigError(() => load(root), `'${key}'`);
    }
  });

  const badValues: Array<{ name: string; file: unknown; env: string; flag: string }> = [
    { name: 'port', file: 70000, env: '70000', flag: '70000' },
    { name: 'port', file: 'abc', env: 'abc', flag: 'abc' },
    { name: 'port', file: -1, env: '-1', flag: '-1' },
    { name: 'port', file: 22.5, env: '22.5', flag: '' },
    { name: 'maxAuthTries', file: 0, env: '0', flag: '0' },
    { name: 'maxStartups', file: 0, env: '0', flag: '0' },
    { name: 'maxStartupsPerIp', file: 'eight', env: '8.5', flag: '-1' },
    { name: 'logLevel', file: 'loud', env: 'loud', flag: 'loud' },
    { name: 'logFormat', file: 'xml', env: 'xml', flag: 'xml' },
    { name: 'defaultQuota', file: '10X', env: '10X', flag: '10X' },
    { name: 'defaultQuota', file: -5, env: '-5', flag: '-5' },
    { name: 'symlinks', file: 'maybe', env: 'maybe', flag: 'maybe' },
    { name: 'legacyScp', file: 1, env: '', flag: '2' },
    { name: 'host', file: 'bad host', env: 'a/b', flag: '' },
  ];
  for (const { name, file, env, flag } of badValues) {
    test(`${name} = ${JSON.stringify(file)} in coffer.json is refused naming the key and the file`, () => {
      const root = rootWithConfig({ [name]: file });
      assertConfigError(() => load(root), `setting '${name}'`, join(root, 'coffer.json'), JSON.stringify(file));
    });
    test(`${name} = ${JSON.stringify(env)} in env is refused naming the variable`, () => {
      const variable = 'COFFER_' + upperSnake(name);
      assertConfigError(() => load(freshRoot(), { env: { [variable]: env } }), `environment variable ${variable}`, JSON.stringify(env));
    });
    test(`${name} = ${JSON.stringify(flag)} as a flag is refused naming the flag`, () => {
      assertConfigError(() => load(freshRoot(), { flags: { [name]: flag } }), `flag --${kebab(name)}`, JSON.stringify(flag));
    });
  }

  test('the message says what is allowed', () => {
    assertConfigError(() => load(freshRoot(), { flags: { port: '70000' } }), /between 0 and 65535/);
    assertConfigError(() => load(freshRoot(), { flags: { logLevel: 'loud' } }), /fatal, error, warn, info, debug, trace, silent/);
    assertConfigError(() => load(freshRoot(), { flags: { symlinks: 'maybe' } }), /true or false/);
  });

  test('a bad value is refused even when a later layer would override it', () => {
    assertConfigError(() => load(rootWithConfig({ port: 'abc' }), { flags: { port: '2300' } }), "setting 'port'");
  });

  test('an unknown COFFER_* variable is refused, with a hint when one is close', () => {
    assertConfigError(() => load(freshRoot(), { env: { COFFER_PROT: '22' } }), 'COFFER_PROT', 'did you mean COFFER_PORT?');
    assertConfigError(() => load(freshRoot(), { env: { COFFER_MAX_CONNECTION_PER_IP: '3' } }), 'did you mean COFFER_MAX_CONNECTIONS_PER_IP?');
    assertConfigError(() => load(freshRoot(), { env: { COFFER_WHATEVER_ELSE: '1' } }), /unknown environment variable COFFER_WHATEVER_ELSE/);
  });

  test('COFFER_ROOT, COFFER_CONFIG and COFFER_PASSWORD are not settings but are allowed; other variables are ignored', () => {
    const root = freshRoot();
    const c = loadConfig({ rootFlag: root, env: { COFFER_ROOT: root, COFFER_PASSWORD: 'secret', PORT: '1', COFFERX: '1', coffer_port: '1' } });
    assert.equal(c.port, DEFAULTS.port);
    assert.equal((c as unknown as Record<string, unknown>).password, undefined);
  });
});

describe('maxStartups within maxConnections (SPEC §5)', () => {
  test('defaults are lowered to fit a smaller maxConnections or maxStartups', () => {
    const small = load(freshRoot(), { flags: { maxConnections: '10' } });
    assert.equal(small.maxStartups, 10);
    assert.equal(small.maxStartupsPerIp, 8);
    const tiny = load(freshRoot(), { env: { COFFER_MAX_STARTUPS: '4' } });
    assert.equal(tiny.maxStartupsPerIp, 4);
  });

  test('maxStartups given above maxConnections is refused, naming where it came from', () => {
    const root = rootWithConfig({ maxConnections: 32, maxStartups: 64 });
    assertConfigError(() => load(root), `${join(root, 'coffer.json')}: setting 'maxStartups'`, 'at most maxConnections (32)', '(got 64)');
    assertConfigError(() => load(freshRoot(), { env: { COFFER_MAX_STARTUPS: '300' } }), 'environment variable COFFER_MAX_STARTUPS', 'at most maxConnections (256)');
  });

  test('maxStartupsPerIp given above maxStartups is refused', () => {
    assertConfigError(() => load(freshRoot(), { flags: { maxStartups: '4', maxStartupsPerIp: '5' } }), 'flag --max-startups-per-ip', 'at most maxStartups (4)');
  });

  test('values within the bounds are kept', () => {
    const c = load(freshRoot(), { flags: { maxConnections: '100', maxStartups: '100', maxStartupsPerIp: '100' } });
    assert.deepEqual([c.maxConnections, c.maxStartups, c.maxStartupsPerIp], [100, 100, 100]);
  });
});
