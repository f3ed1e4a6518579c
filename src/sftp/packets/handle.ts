/**
 * Packets whose body is a handle: the HANDLE reply, and the requests on a handle alone (CLOSE,
 * FSTAT, READDIR) or with attributes (FSETSTAT). Encode and decode.
 */
import { PacketType } from '../constants.js';
import type { Reader } from '../reader.js';
import type { FsetstatRequest, HandleRequest } from '../request-types.js';
import { Writer } from '../writer.js';
import { readAttrs, writeAttrs } from './attrs.js';

/** A decoded HANDLE reply (the handle is a view into the packet). */
export interface HandleReply {
  kind: 'handle';
  id: number;
  handle: Buffer;
}

/** SSH_FXP_HANDLE. */
export function encodeHandle(id: number, handle: Uint8Array): Buffer {
  return new Writer(13 + handle.length).u8(PacketType.HANDLE).u32(id).bytes(handle).finish();
}

/** A HANDLE body after its id. */
export function decodeHandle(r: Reader, id: number): HandleReply {
  return { kind: 'handle', id, handle: r.handle() };
}

/** The decoder of a request whose body is one handle. */
export function handleRequest(kind: HandleRequest['kind']): (r: Reader, id: number) => HandleRequest {
  return (r, id) => ({ kind, id, handle: r.handle() });
}

/** SSH_FXP_FSETSTAT's body after its id. */
export function decodeFsetstat(r: Reader, id: number): FsetstatRequest {
  return { kind: 'fsetstat', id, handle: r.handle(), attrs: readAttrs(r) };
}

/** Appends FSETSTAT's body. */
export function writeFsetstat(w: Writer, req: FsetstatRequest): void {
  w.bytes(req.handle);
  writeAttrs(w, req.attrs);
}
