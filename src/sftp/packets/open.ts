/**
 * SSH_FXP_OPEN (draft-ietf-secsh-filexfer-02 §6.3): path, pflags (OpenFlags), attributes. Encode
 * and decode; the answer is a HANDLE (handle.ts) or a STATUS.
 */
import type { Reader } from '../reader.js';
import type { OpenRequest } from '../request-types.js';
import type { Writer } from '../writer.js';
import { readAttrs, writeAttrs } from './attrs.js';

/** OPEN's body after its id. */
export function decodeOpen(r: Reader, id: number): OpenRequest {
  return { kind: 'open', id, path: r.utf8(), pflags: r.u32(), attrs: readAttrs(r) };
}

/** Appends OPEN's body. */
export function writeOpen(w: Writer, req: OpenRequest): void {
  w.string(req.path).u32(req.pflags);
  writeAttrs(w, req.attrs);
}
