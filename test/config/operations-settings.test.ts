/**
 * The settings of SPEC §8: metricsListen (HOST:PORT, IPv6 in brackets), hooks (strict JSON,
 * from coffer.json, COFFER_HOOKS or --hooks; messages name the entry and never repeat a secret)
 * and hookTimeoutSeconds.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { parseHooks } from '../../src/hooks/hook-config.js';
import { parseListenAddress } from '../../src/util/listen-address.js';

const root = mkdtempSync(join(tmpdir(), 'coffer-ops-settings-'));
after(() => rmSync(root, { recursive: true, force: true }));

const load = (env: Record<string, string>, file?: unknown) => {
  const config = join(root, `c-${Math.random().toString(36).slice(2)}.json`);
  if (file !== undefined) writeFileSync(config, JSON.stringify(file));
  return loadConfig({ env, rootFlag: root, stdoutIsTTY: false, ...(file !== undefined ? { configFlag: config } : {}) });
};
const problem = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('no error');
};

describe('metricsListen', () => {
  it('takes HOST:PORT, names and [IPv6]:PORT; empty is off', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:9222'), { host: '127.0.0.1', port: 9222 });
    assert.deepEqual(parseListenAddress('[::1]:9222'), { host: '::1', port: 9222 });
    assert.deepEqual(parseListenAddress('localhost:0'), { host: 'localhost', port: 0 });
    assert.equal(load({}).metricsListen, '');
    assert.equal(load({ COFFER_METRICS_LISTEN: '[::1]:9222' }).metricsListen, '[::1]:9222');
    assert.equal(load({}, { metricsListen: '0.0.0.0:9222' }).metricsListen, '0.0.0.0:9222');
  });

  it('refuses what is not HOST:PORT, naming the setting', () => {
    for (const bad of ['9222', '::1:9222', '[::1]', '127.0.0.1:', '127.0.0.1:99999', '[127.0.0.1]:9222', 'a b:1', 'http://x:1']) {
      assert.match(problem(() => load({ COFFER_METRICS_LISTEN: bad })), /COFFER_METRICS_LISTEN/, bad);
    }
    assert.match(problem(() => load({}, { metricsListen: 9222 })), /setting 'metricsListen' must be HOST:PORT/);
  });
});

describe('hooks', () => {
  const run = { on: ['upload', 'rename'], run: ['/usr/local/bin/scan', '--quiet'] };
  const post = { on: ['login'], post: 'https://hooks.example/coffer', secret: 'abc' };

  it('come from coffer.json or COFFER_HOOKS (the same JSON)', () => {
    assert.deepEqual(load({}, { hooks: [run, post] }).hooks, [run, post]);
    assert.deepEqual(load({ COFFER_HOOKS: JSON.stringify([run, post]) }).hooks, [run, post]);
    assert.deepEqual(load({ COFFER_HOOKS: '' }).hooks, []);
    assert.equal(load({ COFFER_HOOK_TIMEOUT_SECONDS: '5' }).hookTimeoutSeconds, 5);
  });

  it('are refused with a message naming the entry and the key', () => {
    const cases: [unknown, RegExp][] = [
      [{}, /must be a list of hooks/],
      [[{ on: ['upload'] }], /entry 0: must have "run" \(a program\) or "post"/],
      [[run, { on: ['uplaod'], run: ['/x'] }], /entry 1: "on": unknown event "uplaod" \(events: upload, download/],
      [[{ on: [], run: ['/x'] }], /"on" must be a non-empty list/],
      [[{ on: ['upload'], run: ['scan'] }], /absolute program path/],
      [[{ on: ['upload'], run: '/bin/scan file' }], /"run" must be a list of strings/],
      [[{ on: ['upload'], run: ['/x'], shell: true }], /unknown key "shell"/],
      [[{ on: ['upload'], post: 'ftp://x/' , secret: 's' }], /http:\/\/ or https:\/\/ URL/],
      [[{ on: ['upload'], post: 'https://x/' }], /"secret" must be a non-empty string/],
      [['/bin/scan'], /entry 0: must be an object/],
    ];
    for (const [value, pattern] of cases) assert.match(problem(() => load({}, { hooks: value })), pattern, JSON.stringify(value));
    assert.match(problem(() => load({ COFFER_HOOKS: '[{' })), /COFFER_HOOKS must be a JSON list of hooks/);
  });

  it('never repeat a secret in an error', () => {
    const message = problem(() => load({}, { hooks: [{ on: ['nope'], post: 'https://x/', secret: 'TOP-SECRET-VALUE' }] }));
    assert.ok(!message.includes('TOP-SECRET-VALUE'), message);
    const fromEnv = problem(() => load({ COFFER_HOOKS: '[{"on":["upload"],"post":"https://x/","secret":"TOP-SECRET-VALUE","extra":1}]' }));
    assert.ok(!fromEnv.includes('TOP-SECRET-VALUE'), fromEnv);
  });

  it('duplicate events are kept once', () => {
    assert.deepEqual(parseHooks([{ on: ['upload', 'upload'], run: ['/x'] }]), [{ on: ['upload'], run: ['/x'] }]);
  });
});
