/**
 * INIT and VERSION (draft-ietf-secsh-filexfer-02 §4): the version exchange, encode and decode.
 */
import { PacketType } from '../constants.js';
import type { Reader } from '../reader.js';
import type { InitRequest } from '../request-types.js';
import { Writer, stringSize } from '../writer.js';

/** A decoded VERSION: the server's version and its extension (name, data) pairs in order. */
export interface VersionReply {
  kind: 'version';
  version: number;
  extensions: Array<[string, string]>;
}

/** SSH_FXP_INIT. */
export function encodeInit(version: number): Buffer {
  return new Writer(9).u8(PacketType.INIT).u32(version).finish();
}

/** An INIT's body (after the type byte). */
export function decodeInit(r: Reader): InitRequest {
  return { kind: 'init', version: r.u32() };
}

/** SSH_FXP_VERSION with extension (name, data) pairs in order. */
export function encodeVersion(version: number, extensions: ReadonlyArray<readonly [string, string]> = []): Buffer {
  let size = 9;
  for (const [name, data] of extensions) size += stringSize(name) + stringSize(data);
  const w = new Writer(size).u8(PacketType.VERSION).u32(version);
  for (const [name, data] of extensions) w.string(name).string(data);
  return w.finish();
}

/** A VERSION's body (after the type byte); names and data are decoded leniently. */
export function decodeVersion(r: Reader): VersionReply {
  const version = r.u32();
  const extensions: Array<[string, string]> = [];
  while (r.remaining > 0) extensions.push([r.text(), r.text()]);
  return { kind: 'version', version, extensions };
}
