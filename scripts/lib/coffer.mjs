// Coffer's own programs as the measurement scripts run them: paths, environment, server
// arguments and start line, users.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './process.mjs';

/** The project's root folder (the checkout these scripts are in). */
export const PROJECT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Path of a program's shim under bin/, e.g. bin('coffer-server'). */
export const bin = (name) => join(PROJECT, 'bin', `${name}.js`);

/**
 * Our environment without COFFER_* settings and NODE_OPTIONS, for Coffer's programs: only the
 * flags the script gives apply, and nothing preloaded changes what is measured.
 */
export function cofferEnv() {
  const e = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('COFFER_') && k !== 'NODE_OPTIONS' && v !== undefined) e[k] = v;
  return e;
}

/** The checkout's short commit id, or '?'. */
export function commitId() {
  return spawnSync('git', ['-C', PROJECT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout?.trim() || '?';
}

/**
 * node's arguments for coffer-server on 127.0.0.1, an OS-chosen port, JSON logs at logLevel (info
 * or lower, or startPort never sees the start line), then extra flags.
 */
export function serverArgs(root, { logLevel = 'info', extra = [] } = {}) {
  return [bin('coffer-server'), '--root', root, '--host', '127.0.0.1', '--port', '0', '--log-level', logLevel, '--log-format', 'json', ...extra];
}

/** The port from the server's JSON `start` log line; null for any other line. */
export function startPort(line) {
  if (!line.includes('"start"')) return null;
  try {
    const j = JSON.parse(line);
    return j.event === 'start' ? j.port : null;
  } catch {
    return null;
  }
}

/** Adds a user without a password, logging in with the public key file keyPub (coffer-users add). */
export function addUser(root, name, { quota = 'unlimited', keyPub }) {
  run(process.execPath, [bin('coffer-users'), '--root', root, 'add', name, '--no-password', '--quota', String(quota), '--key', keyPub], { cwd: PROJECT, env: cofferEnv() });
}

/** `coffer-users list --json` of a state root, parsed. */
export function listUsers(root) {
  return JSON.parse(run(process.execPath, [bin('coffer-users'), '--root', root, 'list', '--json'], { cwd: PROJECT, env: cofferEnv() }).stdout);
}
