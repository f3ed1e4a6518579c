// CPU and memory readings from /proc (Linux), in seconds and KiB; NaN where /proc cannot say.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (getconf CLK_TCK; 100 if it cannot say). */
export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** Fields of /proc/PID/stat after the command name (field 3 is [0]), or null. */
function statFields(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** A process's own CPU time (utime + stime) in seconds; pid may be 'self'. */
export function procCpu(pid) {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / CLK_TCK : NaN;
}

/** CPU time (cutime + cstime) of a process's reaped children, in seconds; pid may be 'self'. */
export function childrenCpu(pid = 'self') {
  const f = statFields(pid);
  return f ? (Number(f[13]) + Number(f[14])) / CLK_TCK : NaN;
}

/** A process's resident set (VmRSS) in KiB. */
export function procRssKiB(pid) {
  try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]); } catch { return NaN; }
}

/** The machine's CPU time, busy and total over all cores, in seconds since boot (/proc/stat). */
export function machineCpu() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] || 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
  } catch { return { busy: NaN, total: NaN }; }
}
