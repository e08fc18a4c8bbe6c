// A TensorBundle checkpoint (`<prefix>.index` plus `<prefix>.data-NNNNN-of-MMMMM`), as in a SavedModel's
// variables/ folder. Opening reads and checks the whole index; tensors are read one at a time from the shards,
// so a large checkpoint is never held in memory twice.
import { open, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { NpyArray } from '../npy.js';
import { decodeTrackableObjectGraph, type TrackableObjectGraph } from '../savedmodel/schema.js';
import { dtypeInfo, DT_STRING } from './dtypes.js';
import { decodeEntry, decodeHeader, describeShape, type BundleEntry, type BundleHeader } from './entry.js';
import { TensorBundleError } from './error.js';
import { decodeStrings, readEntryBytes, verifyNumericCrc } from './shard.js';
import { readTable } from './table.js';

export const OBJECT_GRAPH_KEY = '_CHECKPOINTABLE_OBJECT_GRAPH';
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** `<base>.data-NNNNN-of-MMMMM` (tensor_bundle/naming.cc). */
export function shardFileName(base: string, shard: number, numShards: number): string {
  const pad = (n: number): string => String(n).padStart(5, '0');
  return `${base}.data-${pad(shard)}-of-${pad(numShards)}`;
}

function shardPath(prefix: string, shard: number, numShards: number): string {
  return join(dirname(prefix), shardFileName(basename(prefix), shard, numShards));
}

export class TensorBundle {
  private readonly byKey: Map<string, BundleEntry>;

  private constructor(
    /** Path without extension, e.g. `<SavedModel>/variables/variables`. */
    readonly prefix: string,
    readonly header: BundleHeader,
    /** Every tensor entry in key (bytewise) order; the header entry is not included. */
    readonly entries: readonly BundleEntry[],
    private readonly shardSizes: readonly number[],
  ) {
    this.byKey = new Map(entries.map((e) => [e.key, e]));
  }

  static async open(prefix: string): Promise<TensorBundle> {
    const indexPath = `${prefix}.index`;
    const file = basename(indexPath);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(indexPath);
    } catch (error) {
      throw new TensorBundleError(`cannot read ${indexPath}: ${(error as Error).message}`, { cause: error });
    }
    const table = readTable(bytes, file);
    if (table.length === 0 || table[0]!.key.length !== 0) throw new TensorBundleError(`${file}: no bundle header (the entry with key "")`);
    const header = decodeHeader(table[0]!.value, file);
    if (header.endianness !== 0) throw new TensorBundleError(`${file}: big-endian checkpoints are not supported`);
    const entries = table.slice(1).map(({ key, value }) => {
      let name: string;
      try {
        name = UTF8.decode(key);
      } catch {
        throw new TensorBundleError(`${file}: a key is not valid UTF-8`);
      }
      return decodeEntry(name, value, header, file);
    });
    const shardSizes = await Promise.all(
      Array.from({ length: header.numShards }, async (_, shard) => {
        const path = shardPath(prefix, shard, header.numShards);
        const info = await stat(path).catch(() => undefined);
        if (!info?.isFile()) throw new TensorBundleError(`${file}: data shard ${basename(path)} is missing`);
        return info.size;
      }),
    );
    return new TensorBundle(prefix, header, entries, shardSizes);
  }

  entry(key: string): BundleEntry | undefined {
    return this.byKey.get(key);
  }

  private require(key: string): BundleEntry {
    return this.entry(key) ?? this.fail(`has no tensor '${key}'`);
  }

  private fail(message: string): never {
    throw new TensorBundleError(`${basename(this.prefix)}.index ${message}`);
  }

  /** The stored bytes of a tensor, checksum not yet verified (string tensors verify while decoding). */
  private async bytes(entry: BundleEntry): Promise<{ bytes: Uint8Array; shard: string }> {
    const path = shardPath(this.prefix, entry.shardId, this.header.numShards);
    const shard = basename(path);
    const handle = await open(path, 'r');
    try {
      return { bytes: await readEntryBytes(handle, this.shardSizes[entry.shardId]!, entry, shard), shard };
    } finally {
      await handle.close();
    }
  }

  /** A numeric tensor as an array (little-endian, row-major), checksum verified. */
  async readArray(key: string): Promise<NpyArray> {
    const entry = this.require(key);
    const info = dtypeInfo(entry.dtype);
    if (!info.make || !info.npy) return this.fail(`tensor '${key}' has dtype ${info.name}, which is not a numeric type`);
    const { bytes, shard } = await this.bytes(entry);
    verifyNumericCrc(bytes, entry, shard);
    return { dtype: info.npy, shape: entry.shape, data: info.make(bytes.buffer as ArrayBuffer, entry.size / info.itemSize) };
  }

  /** The elements of a string tensor, in row-major order, checksums verified. */
  async readStrings(key: string): Promise<Uint8Array[]> {
    const entry = this.require(key);
    if (entry.dtype !== DT_STRING) return this.fail(`tensor '${key}' has dtype ${entry.dtypeName}, not string`);
    const { bytes, shard } = await this.bytes(entry);
    return decodeStrings(bytes, entry.shape.reduce((a, b) => a * b, 1), entry, shard);
  }

  /** Reads a tensor of any dtype and checks its checksum, without decoding it. */
  async verify(key: string): Promise<void> {
    const entry = this.require(key);
    if (entry.dtype === DT_STRING) {
      await this.readStrings(key);
      return;
    }
    const { bytes, shard } = await this.bytes(entry);
    verifyNumericCrc(bytes, entry, shard);
  }

  /** The checkpoint's TrackableObjectGraph, or undefined for a checkpoint without one (TF1 name-based). */
  async objectGraph(): Promise<TrackableObjectGraph | undefined> {
    const entry = this.entry(OBJECT_GRAPH_KEY);
    if (!entry) return undefined;
    if (entry.shape.length !== 0) return this.fail(`${OBJECT_GRAPH_KEY} has shape ${describeShape(entry.shape)}, expected a scalar`);
    const [bytes] = await this.readStrings(OBJECT_GRAPH_KEY);
    try {
      return decodeTrackableObjectGraph(bytes!);
    } catch (error) {
      return this.fail(`${OBJECT_GRAPH_KEY} is not a valid TrackableObjectGraph (${(error as Error).message})`);
    }
  }
}
