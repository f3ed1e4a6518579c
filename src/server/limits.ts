/**
 * The table of open connections and the caps on it (SPEC §3, §5): maxConnections in all,
 * maxConnectionsPerIp per address key, maxSessionsPerUser authenticated connections per user, and
 * maxStartups / maxStartupsPerIp unauthenticated ones. ssh2 itself caps nothing (its
 * Server.maxConnections is Infinity), so every socket passes here before ssh2 sees a byte.
 */
import type { Socket } from 'node:net';
import type { Connection } from 'ssh2';
import type { Logger } from '../util/logger.js';
import { StartupSlots } from './startup-slots.js';

/** A password attempt whose verdict the client has not been sent yet. */
export interface PendingCheck {
  user: string;
  method: string;
}

/** One open TCP connection, from accept to close. */
export interface ConnectionRecord {
  id: number;
  /** The peer's address as logged (IPv4-mapped IPv6 as IPv4). */
  address: string;
  /** What limits and bans count it under (address-key.ts: the IPv4 address, or the IPv6 /64). */
  key: string;
  port: number;
  socket: Socket;
  log: Logger;
  startedAt: number;
  /** Last incoming channel data or request (idle timeout). */
  lastActivity: number;
  /** ssh2's connection object, once the client sent its identification line. */
  client?: Connection;
  /** Set when authentication succeeded. */
  user?: string;
  /** Counted among the user's connections in the store (uncounted at its close). */
  countedInStore?: boolean;
  /** Failed authentication attempts on this connection (maxAuthTries). */
  failures: number;
  /** Failures already counted toward a ban of the address. */
  banFailures: number;
  /** Authentication requests of any method on this connection. */
  authRequests: number;
  /** The password check in progress (queued or running), until its verdict is sent. */
  pendingCheck?: PendingCheck;
  /** Open session channels. */
  sessions: Set<SessionRecord>;
  /** Aborted when the connection must end (shutdown, user disabled or removed). */
  abort: AbortController;
  /** True once we decided to end it. */
  ending: boolean;
  /** True when it was evicted to make room for a new connection (maxStartups). */
  evicted?: boolean;
}

/** One open session channel (what shutdown waits for). */
export interface SessionRecord {
  lastActivity: number;
  /** A handler may say whether work is in progress (open transfer); default: recent activity. */
  isBusy?: () => boolean;
}

/** Why a new connection is refused. */
export type AdmitRefusal = 'max-connections' | 'max-connections-per-ip' | 'max-startups-per-ip';

/** What admit() decided: refused (and why), or admitted once `evict` (if any) is gone. */
export type Admission = { refused: AdmitRefusal } | { refused: null; evict?: ConnectionRecord };

/** Caps the table enforces. */
export interface ConnectionCaps {
  maxConnections: number;
  maxConnectionsPerIp: number;
  maxSessionsPerUser: number;
  maxStartups: number;
  maxStartupsPerIp: number;
}

/** Every open connection, by peer, by address key and by user; the unauthenticated ones by address key. */
export class ConnectionTable {
  private readonly byPeer = new Map<string, ConnectionRecord>();
  private readonly perAddress = new Map<string, number>();
  private readonly perUser = new Map<string, Set<ConnectionRecord>>();
  private readonly startups = new StartupSlots<ConnectionRecord>();

  constructor(private readonly caps: ConnectionCaps) {}

  /** Open connections. */
  get size(): number {
    return this.byPeer.size;
  }

  /** Connections not logged in (yet). */
  get unauthenticated(): number {
    return this.startups.size;
  }

  /**
   * Whether one more connection from address key `key` may open. When the unauthenticated ones
   * (or all) are at their cap, it may, in place of the unauthenticated connection to `evict`
   * (SPEC §5): silent sockets never keep a login out. An address at its own caps is refused.
   */
  admit(key: string): Admission {
    if ((this.perAddress.get(key) ?? 0) >= this.caps.maxConnectionsPerIp) return { refused: 'max-connections-per-ip' };
    if (this.startups.countOf(key) >= this.caps.maxStartupsPerIp) return { refused: 'max-startups-per-ip' };
    if (this.startups.size < this.caps.maxStartups && this.byPeer.size < this.caps.maxConnections) return { refused: null };
    const evict = this.startups.victim();
    return evict ? { refused: null, evict } : { refused: 'max-connections' };
  }

  /** Records an admitted connection; it holds an unauthenticated slot until setUser() or its close. */
  add(rec: ConnectionRecord): void {
    this.byPeer.set(peerKey(rec.address, rec.port), rec);
    this.perAddress.set(rec.key, (this.perAddress.get(rec.key) ?? 0) + 1);
    if (!rec.user) this.startups.add(rec);
  }

  /** Forgets a connection (at its close, or at once when it is evicted); a second call does nothing. */
  remove(rec: ConnectionRecord): void {
    if (this.byPeer.get(peerKey(rec.address, rec.port)) !== rec) return;
    this.byPeer.delete(peerKey(rec.address, rec.port));
    this.startups.remove(rec);
    const n = (this.perAddress.get(rec.key) ?? 1) - 1;
    if (n > 0) this.perAddress.set(rec.key, n);
    else this.perAddress.delete(rec.key);
    if (rec.user) this.perUser.get(rec.user)?.delete(rec);
    if (rec.user && this.perUser.get(rec.user)?.size === 0) this.perUser.delete(rec.user);
  }

  /** The connection of a peer (ssh2 reports the peer's address and port, not the socket). */
  find(address: string, port: number): ConnectionRecord | undefined {
    return this.byPeer.get(peerKey(address, port));
  }

  /** True when `user` may have one more authenticated connection. */
  userHasRoom(user: string): boolean {
    return (this.perUser.get(user)?.size ?? 0) < this.caps.maxSessionsPerUser;
  }

  /** Marks a connection as logged in as `user`. */
  setUser(rec: ConnectionRecord, user: string): void {
    rec.user = user;
    this.startups.remove(rec);
    let set = this.perUser.get(user);
    if (!set) this.perUser.set(user, (set = new Set()));
    set.add(rec);
  }

  /** Users with at least one open authenticated connection. */
  users(): string[] {
    return [...this.perUser.keys()];
  }

  /** The authenticated connections of `user`. */
  connectionsOf(user: string): ConnectionRecord[] {
    return [...(this.perUser.get(user) ?? [])];
  }

  /** Every open connection. */
  all(): ConnectionRecord[] {
    return [...this.byPeer.values()];
  }
}

function peerKey(address: string, port: number): string {
  return `${address}|${port}`;
}
