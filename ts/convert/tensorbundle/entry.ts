// The values of a TensorBundle index: the header under key "" and one BundleEntryProto per tensor
// (savedmodel-format.md §3, §6). Decoded with our protobuf schema, then checked so that later reads can trust
// the numbers: shape and byte size agree, offsets are safe integers, the shard exists in the header's count.
import { decodeBundleEntry, decodeBundleHeader, shapeDims } from '../savedmodel/schema.js';
import { dtypeInfo, DT_STRING } from './dtypes.js';
import { TensorBundleError } from './error.js';

export interface BundleHeader {
  numShards: number;
  /** 0 = little-endian (the only layout read here), 1 = big-endian. */
  endianness: number;
  version: { producer: number; minConsumer: number; badConsumers: number[] };
}

export interface BundleEntry {
  key: string;
  dtype: number;
  dtypeName: string;
  shape: number[];
  shardId: number;
  offset: number;
  size: number;
  /** The masked CRC-32C as stored. */
  crc32c: number;
}

const MAX_SHARDS = 99_999;

function decodeWith<T>(decode: (bytes: Uint8Array) => T, bytes: Uint8Array, what: string): T {
  try {
    return decode(bytes);
  } catch (error) {
    throw new TensorBundleError(`${what}: not a valid protobuf message (${(error as Error).message})`, { cause: error });
  }
}

export function decodeHeader(bytes: Uint8Array, file: string): BundleHeader {
  const header = decodeWith(decodeBundleHeader, bytes, `${file}: bundle header`);
  const version = header.version ?? { producer: 0, min_consumer: 0, bad_consumers: [] };
  // Shard names have five digits; a count beyond that is corruption, and would be an allocation per shard.
  if (header.num_shards < 0 || header.num_shards > MAX_SHARDS) throw new TensorBundleError(`${file}: bundle header claims ${header.num_shards} shards`);
  return {
    numShards: header.num_shards,
    endianness: header.endianness,
    version: { producer: version.producer, minConsumer: version.min_consumer, badConsumers: version.bad_consumers },
  };
}

export function describeShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function decodeEntry(key: string, bytes: Uint8Array, header: BundleHeader, file: string): BundleEntry {
  const what = `${file}: tensor '${key}'`;
  const proto = decodeWith(decodeBundleEntry, bytes, what);
  const fail = (message: string): never => {
    throw new TensorBundleError(`${what}: ${message}`);
  };
  if (proto.slices.length > 0) fail('is a partitioned (sliced) tensor, which musiq-native does not read');
  const shape = shapeDims(proto.shape) ?? fail('has an unknown rank');
  const info = dtypeInfo(proto.dtype);
  let count = 1;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) fail(`has an invalid dimension ${dim} in shape ${describeShape(shape)}`);
    count *= dim;
    if (!Number.isSafeInteger(count)) fail(`shape ${describeShape(shape)} is absurdly large`);
  }
  for (const [name, value] of [['offset', proto.offset], ['size', proto.size]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) fail(`has an invalid ${name} ${value}`);
  }
  if (info.itemSize > 0 && count * info.itemSize !== proto.size) {
    fail(`shape ${describeShape(shape)} of ${info.name} needs ${count * info.itemSize} bytes, but the entry stores ${proto.size}`);
  }
  // A string element takes at least one length byte; the lengths are followed by a 4-byte checksum.
  if (proto.dtype === DT_STRING && count + 4 > proto.size) {
    fail(`shape ${describeShape(shape)} has ${count} strings, which cannot fit in ${proto.size} bytes`);
  }
  if (proto.shard_id < 0 || proto.shard_id >= header.numShards) {
    fail(`is in shard ${proto.shard_id}, but the bundle has ${header.numShards} shard(s)`);
  }
  return {
    key,
    dtype: proto.dtype,
    dtypeName: info.name,
    shape,
    shardId: proto.shard_id,
    offset: proto.offset,
    size: proto.size,
    crc32c: proto.crc32c,
  };
}
