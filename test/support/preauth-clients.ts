/**
 * Clients that attack the server before login, for the hardening tests: a loop that sends one
 * password and hangs up before the answer, and sockets that connect and then say nothing (or only
 * their identification line), reopened whenever the server closes them.
 */
import { connect as netConnect, type Socket } from 'node:net';
import ssh2 from 'ssh2';

/** What a hang-up loop did. */
export interface HangupStats {
  /** Connections on which a password was sent. */
  sent: number;
  /** Of those, connections this client hung up on before any answer came (abandoned attempts). */
  abandoned: number;
  /** Of those, connections that got the server's failure answer before the hang-up. */
  answered: number;
  /** Connections closed by the server before a password could be sent (refused, banned). */
  refused: number;
}

/** A running attacker; stop() resolves once its last connection has closed. */
export interface Attack<S> {
  stats: S;
  stop(): Promise<void>;
}

/** Options of a hang-up loop. */
export interface HangupOptions {
  port: number;
  localAddress: string;
  username: string;
  password: string;
  /** Hang up this long after sending the password (ms). */
  hangupMs: number;
  /** Connections kept going at once from this address (default 1). */
  parallel?: number;
}

/**
 * Loops connect -> key exchange -> one password -> hang up after hangupMs, as the flood
 * did; a failure answer that arrives first is counted, and the connection ends then.
 */
export function hangupFlood(opts: HangupOptions): Attack<HangupStats> {
  const stats: HangupStats = { sent: 0, abandoned: 0, answered: 0, refused: 0 };
  let stopped = false;
  const loops = Array.from({ length: opts.parallel ?? 1 }, async () => {
    while (!stopped) await oneHangup(opts, stats);
  });
  return {
    stats,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

function oneHangup(opts: HangupOptions, stats: HangupStats): Promise<void> {
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    let sent = false;
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    const sock = () => (client as unknown as { _sock?: Socket })._sock;
    client.on('error', () => {});
    client.on('close', () => {
      clearTimeout(timer);
      if (!sent) stats.refused += 1;
      resolve();
    });
    client.connect({
      host: '127.0.0.1',
      port: opts.port,
      localAddress: opts.localAddress,
      username: opts.username,
      readyTimeout: 20_000,
      authHandler: ((_methods: unknown, _partial: unknown, next: (m: unknown) => void) => {
        if (sent) {
          // The server answered before we hung up.
          if (!answered) stats.answered += 1;
          answered = true;
          clearTimeout(timer);
          sock()?.destroy();
          return;
        }
        sent = true;
        stats.sent += 1;
        next({ type: 'password', username: opts.username, password: opts.password });
        timer = setTimeout(() => {
          if (answered) return;
          stats.abandoned += 1;
          sock()?.destroy();
        }, opts.hangupMs);
      }) as never,
    });
  });
}

/** What a silent-socket attacker did. */
export interface SilentStats {
  /** Sockets opened in all. */
  opened: number;
  /** Sockets open right now. */
  open: number;
  /** Sockets the server closed. */
  closedByServer: number;
}

/** Options of a silent-socket attacker. */
export interface SilentOptions {
  port: number;
  localAddresses: string[];
  /** Sockets held open per address. */
  perAddress: number;
  /** Send the SSH identification line, then nothing (a slow client) instead of nothing at all. */
  sendIdent?: boolean;
  /** Open a new socket when the server closes one (default true). */
  reopen?: boolean;
}

/**
 * Holds `perAddress` TCP connections from each address that never log in. Resolves once every
 * first socket has connected (or been refused); with `reopen`, closed ones are replaced.
 */
export async function silentSockets(opts: SilentOptions): Promise<Attack<SilentStats>> {
  const stats: SilentStats = { opened: 0, open: 0, closedByServer: 0 };
  const sockets = new Set<Socket>();
  let stopped = false;
  const open = (localAddress: string): Promise<void> =>
    new Promise((resolve) => {
      const sock = netConnect({ host: '127.0.0.1', port: opts.port, localAddress });
      sockets.add(sock);
      stats.opened += 1;
      sock.on('error', () => {});
      sock.on('data', () => {});
      let connected = false;
      sock.once('connect', () => {
        connected = true;
        stats.open += 1;
        if (opts.sendIdent) sock.write('SSH-2.0-slowpoke\r\n');
        resolve();
      });
      sock.once('close', () => {
        sockets.delete(sock);
        if (connected) stats.open -= 1;
        resolve();
        if (stopped) return;
        stats.closedByServer += 1;
        // Reopen on the next turn: the attacker keeps up the pressure.
        if (opts.reopen !== false) setImmediate(() => !stopped && void open(localAddress));
      });
    });
  const first: Promise<void>[] = [];
  for (const a of opts.localAddresses) for (let i = 0; i < opts.perAddress; i++) first.push(open(a));
  await Promise.all(first);
  return {
    stats,
    stop: async () => {
      stopped = true;
      const closing = [...sockets].map((s) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve()))));
      for (const s of sockets) s.destroy();
      await Promise.all(closing);
    },
  };
}

/** Loopback source addresses 127.0.0.FROM .. 127.0.0.TO. */
export function loopbackRange(from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => `127.0.0.${from + i}`);
}

/** CPU time (user + system, all threads of this process) spent during `ms` of wall time, in percent of one core. */
export async function cpuPercentOver(ms: number): Promise<number> {
  const before = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const used = process.cpuUsage(before);
  const wall = Number(process.hrtime.bigint() - t0) / 1000;
  return (100 * (used.user + used.system)) / wall;
}
