// One block of a LevelDB-style table ("tsl::table", savedmodel-format.md §5): `contents ‖ type ‖ masked crc32c`
// on disk; the contents are prefix-compressed entries followed by the restart offsets and their count.
import { ByteReader } from './bytes.js';
import { crc32c, maskCrc32c } from './crc32c.js';
import { snappyDecompress } from './snappy.js';

export interface BlockHandle {
  offset: number;
  size: number;
}

export interface TableEntry {
  key: Uint8Array;
  value: Uint8Array;
}

const TRAILER_BYTES = 5; // compression type + fixed32 crc
const NO_COMPRESSION = 0;
const SNAPPY = 1;

export function readBlockHandle(reader: ByteReader): BlockHandle {
  return { offset: reader.varint(), size: reader.varint() };
}

/** The stored contents of a block, checksum verified and decompressed. */
export function blockContents(file: Uint8Array, handle: BlockHandle, what: string): Uint8Array {
  const reader = new ByteReader(file, what);
  if (handle.offset + handle.size + TRAILER_BYTES > file.length) {
    reader.fail(`block [${handle.offset}, +${handle.size}) and its trailer run past the end of the ${file.length}-byte file`);
  }
  const stored = file.subarray(handle.offset, handle.offset + handle.size + 1); // contents + type byte
  const trailer = new ByteReader(file, what, handle.offset + handle.size + 1);
  const expected = trailer.fixed32();
  const actual = maskCrc32c(crc32c(stored));
  if (actual !== expected) reader.fail(`block checksum mismatch (stored ${expected}, computed ${actual}): the file is corrupt`);
  const type = stored[handle.size]!;
  const contents = stored.subarray(0, handle.size);
  if (type === NO_COMPRESSION) return contents;
  if (type === SNAPPY) return snappyDecompress(contents, what);
  return reader.fail(`unknown block compression type ${type}`);
}

/**
 * Decodes a block's entries. Checks that keys are strictly increasing, that each shared prefix exists, and that
 * every restart offset points at an entry stored without a shared prefix.
 */
export function blockEntries(contents: Uint8Array, what: string): TableEntry[] {
  const tail = new ByteReader(contents, what, Math.max(0, contents.length - 4));
  if (contents.length < 4) tail.fail('block is shorter than its restart count');
  const numRestarts = tail.fixed32();
  const restartsStart = contents.length - 4 - 4 * numRestarts;
  if (numRestarts === 0 || restartsStart < 0) tail.fail(`block claims ${numRestarts} restart points, which do not fit`);
  const restarts = new ByteReader(contents, what, restartsStart, contents.length - 4);
  const restartOffsets = Array.from({ length: numRestarts }, () => restarts.fixed32());

  const reader = new ByteReader(contents, what, 0, restartsStart);
  const entries: TableEntry[] = [];
  const unsharedAt = new Set<number>();
  let previous = new Uint8Array(0);
  while (reader.remaining > 0) {
    const start = reader.pos;
    const shared = reader.varint32();
    const nonShared = reader.varint32();
    const valueLength = reader.varint32();
    if (shared > previous.length) reader.fail(`entry shares ${shared} bytes with a ${previous.length}-byte key`);
    const key = new Uint8Array(shared + nonShared);
    key.set(previous.subarray(0, shared));
    key.set(reader.take(nonShared), shared);
    const value = reader.take(valueLength);
    if (entries.length > 0 && compareBytes(previous, key) >= 0) reader.fail('keys are not in increasing order');
    if (shared === 0) unsharedAt.add(start);
    entries.push({ key, value });
    previous = key;
  }
  for (const offset of restartOffsets) {
    // An empty block (the metaindex) still has the one restart point 0.
    const valid = entries.length === 0 ? offset === 0 : unsharedAt.has(offset);
    if (!valid) reader.fail(`restart offset ${offset} is not the start of an entry with a full key`);
  }
  return entries;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
