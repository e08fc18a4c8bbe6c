// Reader for numpy .npz archives (zip of .npy files; stored or deflated; zip64). yauzl parses the zip structure
// (it handles zip64 and validates entry sizes against the stream); we check each entry's declared size against
// its .npy header before allocating or inflating the rest, verify each entry's CRC-32, and stream every entry
// straight into one buffer so a large checkpoint is never held twice.
import { constants } from 'node:buffer';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import { npyHeaderBytes, parseNpy, parseNpyHeader, type NpyArray } from './npy.js';

export class NpzError extends Error {
  override name = 'NpzError';
}

export interface ReadNpzOptions {
  /** Only entries whose key (file name without `.npy`) passes are read; the rest are skipped unread. */
  keyFilter?: (key: string) => boolean;
  signal?: AbortSignal;
}

const STORED = 0;
const DEFLATED = 8;
// Deflate cannot expand data by more than about 1032:1; a larger claimed ratio is a corrupt or hostile header.
const MAX_DEFLATE_RATIO = 1032;
// The largest typed array Node.js allocates (4 GiB on 64-bit builds).
const MAX_ENTRY_BYTES = constants.MAX_LENGTH;

async function readEntryBytes(zip: yauzl.ZipFile, entry: yauzl.Entry, signal?: AbortSignal): Promise<Uint8Array> {
  const size = entry.uncompressedSize;
  if (entry.compressionMethod === STORED && size !== entry.compressedSize) {
    throw new Error(`stored entry sizes disagree (${entry.compressedSize} vs ${size} bytes)`);
  }
  if (entry.compressionMethod === DEFLATED && size > entry.compressedSize * MAX_DEFLATE_RATIO + 1024) {
    throw new Error(`claims ${size} bytes uncompressed from ${entry.compressedSize} compressed, which deflate cannot do`);
  }
  if (entry.compressionMethod !== STORED && entry.compressionMethod !== DEFLATED) {
    throw new Error(`uses zip compression method ${entry.compressionMethod}; only stored and deflated are supported`);
  }
  if (entry.isEncrypted()) throw new Error('is encrypted');
  if (entry.relativeOffsetOfLocalHeader + entry.compressedSize > zip.fileSize) {
    throw new Error(`claims ${entry.compressedSize} bytes at offset ${entry.relativeOffsetOfLocalHeader}, past the end of the file`);
  }
  const stream = await zip.openReadStreamPromise(entry);
  const onAbort = (): void => {
    stream.destroy(new Error('aborted'));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  // The buffer is allocated once the .npy header has arrived: the header says how many bytes the entry must
  // hold, so a declared size it does not back is refused before the body is inflated, and nothing is ever
  // inflated or allocated beyond it.
  let out: Uint8Array | undefined;
  let head: Buffer = Buffer.alloc(0);
  let filled = 0;
  let crc = 0;
  try {
    for await (const data of stream as AsyncIterable<Buffer>) {
      let chunk = data;
      if (!out) {
        head = Buffer.concat([head, chunk]);
        const headerBytes = npyHeaderBytes(head);
        if (headerBytes === undefined || head.length < headerBytes) continue;
        const needed = headerBytes + parseNpyHeader(head).dataBytes;
        if (needed !== size) throw new Error(`declares ${size} bytes but its .npy header needs ${needed}`);
        if (size > MAX_ENTRY_BYTES) throw new Error(`needs ${size} bytes, more than the ${MAX_ENTRY_BYTES} Node.js can hold in one array`);
        // Own ArrayBuffer (offset 0) so the .npy data, padded to a multiple of 16 bytes, is aligned for typed arrays.
        out = new Uint8Array(new ArrayBuffer(size));
        chunk = head;
      }
      if (filled + chunk.length > size) throw new Error(`holds more than the ${size} bytes its header declares`);
      out.set(chunk, filled);
      filled += chunk.length;
      crc = crc32(chunk, crc);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (!out) throw new Error(`ends inside its .npy header (${head.length} bytes)`);
  if (filled !== size) throw new Error(`is truncated: ${filled} of ${size} bytes`);
  if (crc >>> 0 !== entry.crc32 >>> 0) throw new Error('fails its CRC-32 check');
  return out;
}

/** Reads the arrays of an .npz file, keyed by entry name without the `.npy` suffix. */
export async function readNpz(path: string, options: ReadNpzOptions = {}): Promise<Map<string, NpyArray>> {
  const fail = (message: string, cause?: unknown): never => {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    throw new NpzError(`cannot read ${path}: ${message}${detail}`, { cause });
  };
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false, strictFileNames: true });
  } catch (error) {
    return fail('not a readable zip archive (truncated or not an .npz file)', error);
  }
  const arrays = new Map<string, NpyArray>();
  try {
    for await (const entry of zip.eachEntry()) {
      options.signal?.throwIfAborted();
      const name = entry.fileName;
      if (name.endsWith('/')) continue;
      const key = name.endsWith('.npy') ? name.slice(0, -4) : name;
      if (options.keyFilter && !options.keyFilter(key)) continue;
      if (arrays.has(key)) fail(`entry '${name}' appears twice`);
      let bytes: Uint8Array;
      try {
        bytes = await readEntryBytes(zip, entry, options.signal);
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        return fail(`entry '${name}'`, error);
      }
      try {
        arrays.set(key, parseNpy(bytes));
      } catch (error) {
        return fail(`entry '${name}'`, error);
      }
    }
  } catch (error) {
    if (error instanceof NpzError || options.signal?.aborted) throw error;
    return fail('corrupt zip structure', error);
  } finally {
    zip.close();
  }
  return arrays;
}
