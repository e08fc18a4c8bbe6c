// Reads one tensor's bytes from a data shard: only its [offset, offset + size) range is read, after checking
// the range lies inside the file, and the bytes are checked against the entry's masked CRC-32C.
import type { FileHandle } from 'node:fs/promises';
import { ByteReader } from './bytes.js';
import { crc32c, maskCrc32c } from './crc32c.js';
import type { BundleEntry } from './entry.js';
import { TensorBundleError } from './error.js';

const READ_CHUNK = 16 << 20;

/** The tensor's stored bytes, in a buffer of their own (offset 0, so typed arrays over it are aligned). */
export async function readEntryBytes(handle: FileHandle, fileSize: number, entry: BundleEntry, shardName: string): Promise<Uint8Array> {
  if (entry.offset + entry.size > fileSize) {
    throw new TensorBundleError(
      `tensor '${entry.key}': bytes [${entry.offset}, ${entry.offset + entry.size}) lie past the end of ${shardName} (${fileSize} bytes)`,
    );
  }
  const out = new Uint8Array(new ArrayBuffer(entry.size));
  let filled = 0;
  while (filled < entry.size) {
    const { bytesRead } = await handle.read(out, filled, Math.min(READ_CHUNK, entry.size - filled), entry.offset + filled);
    if (bytesRead === 0) throw new TensorBundleError(`tensor '${entry.key}': ${shardName} ended early (was it truncated while reading?)`);
    filled += bytesRead;
  }
  return out;
}

function checksumError(entry: BundleEntry, shardName: string, computed: number): TensorBundleError {
  return new TensorBundleError(
    `tensor '${entry.key}' in ${shardName} fails its checksum (stored crc32c ${entry.crc32c}, computed ${computed}): the data is corrupt`,
  );
}

export function verifyNumericCrc(bytes: Uint8Array, entry: BundleEntry, shardName: string): void {
  const computed = maskCrc32c(crc32c(bytes));
  if (computed !== entry.crc32c) throw checksumError(entry, shardName, computed);
}

/**
 * Splits a DT_STRING tensor (savedmodel-format.md §7): varint64 lengths, a masked CRC of the lengths, then the
 * bytes. The entry CRC runs over the lengths as fixed-width integers, the stored length CRC and the bytes.
 */
export function decodeStrings(bytes: Uint8Array, count: number, entry: BundleEntry, shardName: string): Uint8Array[] {
  const reader = new ByteReader(bytes, `tensor '${entry.key}' in ${shardName}`);
  const lengths = Array.from({ length: count }, () => reader.varint());
  let crc = 0;
  for (const length of lengths) {
    const wide = length > 0xffffffff;
    const encoded = new DataView(new ArrayBuffer(wide ? 8 : 4));
    if (wide) encoded.setBigUint64(0, BigInt(length), true);
    else encoded.setUint32(0, length, true);
    crc = crc32c(new Uint8Array(encoded.buffer), crc);
  }
  const storedBytes = reader.take(4);
  const stored = new ByteReader(storedBytes, reader.what).fixed32();
  if (stored !== maskCrc32c(crc)) reader.fail(`string lengths fail their checksum (stored ${stored}, computed ${maskCrc32c(crc)})`);
  crc = crc32c(storedBytes, crc);
  const total = lengths.reduce((a, b) => a + b, 0);
  if (total !== reader.remaining) reader.fail(`string lengths add up to ${total} bytes, but ${reader.remaining} follow`);
  const strings = lengths.map((length) => reader.take(length));
  crc = crc32c(bytes.subarray(bytes.length - total), crc);
  const computed = maskCrc32c(crc);
  if (computed !== entry.crc32c) throw checksumError(entry, shardName, computed);
  return strings;
}
