/**
 * The proxyProtocol setting (SPEC §7): a JSON array in coffer.json, comma-separated in
 * COFFER_PROXY_PROTOCOL and --proxy-protocol; each entry checked, a bad one refused naming the key
 * and the entry.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig, type ConfigSources } from '../../src/config/load.js';
import { helpText, serverOptions, settingFlags } from '../../src/cli/server/main-options.js';

const base = mkdtempSync(join(tmpdir(), 'coffer-proxy-setting-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

function load(src: Omit<ConfigSources, 'rootFlag'> = {}, file?: unknown) {
  const root = join(base, `r${++n}`);
  mkdirSync(root);
  if (file !== undefined) writeFileSync(join(root, 'coffer.json'), JSON.stringify(file));
  return loadConfig({ env: {}, stdoutIsTTY: false, ...src, rootFlag: root });
}

function refused(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    for (const p of parts) assert.ok(err.message.includes(p), `${JSON.stringify(err.message)} lacks ${JSON.stringify(p)}`);
    return true;
  });
}

describe('proxyProtocol setting', () => {
  it('is empty by default', () => {
    assert.deepEqual(load().proxyProtocol, []);
  });

  it('takes a JSON array in coffer.json', () => {
    assert.deepEqual(load({}, { proxyProtocol: ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8'] }).proxyProtocol, ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']);
    assert.deepEqual(load({}, { proxyProtocol: [] }).proxyProtocol, []);
  });

  it('takes comma-separated text from the environment and flags, spaces and empty items ignored', () => {
    assert.deepEqual(load({ env: { COFFER_PROXY_PROTOCOL: '127.0.0.1, 10.0.0.0/8 ,::1,' } }).proxyProtocol, ['127.0.0.1', '10.0.0.0/8', '::1']);
    assert.deepEqual(load({ env: { COFFER_PROXY_PROTOCOL: '' } }, { proxyProtocol: ['10.0.0.0/8'] }).proxyProtocol, []);
    assert.deepEqual(load({ flags: { proxyProtocol: '192.0.2.10' } }, { proxyProtocol: ['10.0.0.0/8'] }).proxyProtocol, ['192.0.2.10']);
  });

  it('refuses a bad entry naming the key and the entry, from every source', () => {
    refused(() => load({}, { proxyProtocol: ['10.0.0.0/8', 'lb.example'] }), "setting 'proxyProtocol'", "entry 'lb.example'", 'not an IP address');
    refused(() => load({ env: { COFFER_PROXY_PROTOCOL: '10.0.0.0/33' } }), 'COFFER_PROXY_PROTOCOL', "entry '10.0.0.0/33'", 'prefix length');
    refused(() => load({ flags: { proxyProtocol: '127.0.0.1,10.1.0.0/8' } }), '--proxy-protocol', "entry '10.1.0.0/8'", 'did you mean 10.0.0.0/8');
  });

  it('takes a string in coffer.json as the same comma-separated text', () => {
    assert.deepEqual(load({}, { proxyProtocol: '10.0.0.0/8, ::1' }).proxyProtocol, ['10.0.0.0/8', '::1']);
  });

  it('refuses JSON that is not a list of strings', () => {
    refused(() => load({}, { proxyProtocol: [10] }), "setting 'proxyProtocol'", 'must be a list of strings');
    refused(() => load({}, { proxyProtocol: { a: 1 } }), 'must be a list of strings');
    refused(() => load({}, { proxyProtocol: [''] }), "entry '' is empty");
  });

  it('is a flag --proxy-protocol LIST in coffer-server', () => {
    assert.deepEqual(serverOptions()['proxy-protocol'], { type: 'string' });
    const flags = settingFlags({ 'proxy-protocol': '::1' }, ['--proxy-protocol', '::1']);
    assert.deepEqual(flags, { proxyProtocol: '::1' });
    assert.match(helpText(), /--proxy-protocol A,B,\.\.\.\s+trusted load balancers/);
  });
});
