// Servers the measurement scripts start and stop: spawned by PID (inside a cgroup for CPU
// accounting where possible), their output lines kept and watched, stopped with SIGTERM.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup, trackServer, untrackServer } from './cleanup.mjs';
import { readLines, ScriptError, sleep, stopProcess } from './process.mjs';
import { procCpu } from './procfs.mjs';

/**
 * A new cgroup for a server's CPU accounting, a cpuacct cgroup (v1) or a cgroup v2 leaf, so a
 * server's per-session processes (sshd's) count too: { dir, procs, read() CPU seconds }, removed at
 * cleanup; null where none can be made (not root, no cgroup file system).
 */
export function makeCgroup(name) {
  const candidates = [
    { base: '/sys/fs/cgroup/cpuacct', read: (d) => Number(readFileSync(join(d, 'cpuacct.usage'), 'utf8')) / 1e9 },
    ...['/sys/fs/cgroup', '/sys/fs/cgroup/unified'].map((base) => ({
      base,
      read: (d) => Number(/usage_usec (\d+)/.exec(readFileSync(join(d, 'cpu.stat'), 'utf8'))[1]) / 1e6,
    })),
  ];
  for (const c of candidates) {
    const dir = join(c.base, name);
    try {
      if (c.base.endsWith('cpuacct') ? !existsSync(join(c.base, 'cpuacct.usage')) : !existsSync(join(c.base, 'cgroup.controllers'))) continue;
      mkdirSync(dir);
    } catch {
      continue;
    }
    try {
      c.read(dir);
    } catch {
      try { rmdirSync(dir); } catch { /* busy or gone */ }
      continue;
    }
    // Removed after the servers are gone; their processes may take a moment to leave the cgroup.
    onCleanup(() => rmdirSync(dir), async () => {
      for (let i = 0; i < 20; i++) {
        try { rmdirSync(dir); return; } catch { await sleep(100); }
      }
    });
    return { dir, procs: join(dir, 'cgroup.procs'), read: () => c.read(dir) };
  }
  return null;
}

/**
 * Spawns a server process (tracked for cleanup), inside its cgroup when there is one (sh writes
 * its PID there, then execs): { name, proc, cgroup, lines, problems, exited, cpu() seconds }. Its
 * CPU is the cgroup's, else, for a server of oneProcess, that process's from /proc, else NaN.
 */
export function spawnServer(name, cmd, args, { cgroup = null, oneProcess = false, env, cwd }) {
  const proc = cgroup
    ? spawn('/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', cgroup.procs, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env, cwd })
    : spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env, cwd });
  const s = {
    name, proc, cgroup, lines: [], problems: [], exited: null,
    cpu: () => (cgroup ? cgroup.read() : oneProcess ? procCpu(proc.pid) : NaN),
  };
  proc.on('exit', (code, signal) => { s.exited = { code, signal }; });
  trackServer(proc);
  return s;
}

/**
 * Resolves with the first truthy test(line) among the server's output lines (those seen so far
 * included); rejects with its last lines when it exits first or after timeoutMs.
 */
export function waitForLine(server, test, what, timeoutMs = 30000) {
  return new Promise((resolveP, reject) => {
    const timer = setTimeout(() => reject(new ScriptError(`${server.name} did not report ${what} within ${timeoutMs / 1000} s; output:\n${server.lines.slice(-15).join('\n')}`)), timeoutMs);
    const check = (line) => {
      const v = test(line);
      if (v !== undefined && v !== null && v !== false) {
        clearTimeout(timer);
        resolveP(v);
      }
    };
    server.onLine = check;
    for (const l of server.lines) check(l);
    server.proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new ScriptError(`${server.name} exited (${signal ?? code}) before ${what}; output:\n${server.lines.slice(-15).join('\n')}`));
    });
  });
}

/**
 * Keeps the server's stdout and stderr lines (the last 1000-2000) in server.lines, those
 * classify(line) calls a problem (at most 200) in server.problems, and feeds waitForLine.
 */
export function attachOutput(server, classify) {
  const onLine = (line) => {
    if (server.lines.length < 2000) server.lines.push(line);
    else server.lines.splice(0, 1000), server.lines.push(line);
    const problem = classify(line);
    if (problem && server.problems.length < 200) server.problems.push(problem);
    server.onLine?.(line);
  };
  readLines(server.proc.stdout, onLine);
  readLines(server.proc.stderr, onLine);
}

/** Stops a server by its PID (SIGTERM, then SIGKILL after graceMs) and forgets it. */
export async function stopServer(s, graceMs = 10000) {
  await stopProcess(s.proc, graceMs);
  untrackServer(s.proc);
}
