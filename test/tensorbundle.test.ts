// TensorBundle reader: every fixture checkpoint written by TensorFlow against its manifest, and corrupt copies
// (made in a temporary folder) that must each fail with a clear error.
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BundleEntryType } from '../ts/convert/savedmodel/schema.js';
import { TensorBundle, OBJECT_GRAPH_KEY } from '../ts/convert/tensorbundle/bundle.js';
import { crc32c, maskCrc32c } from '../ts/convert/tensorbundle/crc32c.js';
import { TensorBundleError } from '../ts/convert/tensorbundle/error.js';
import { snappyDecompress } from '../ts/convert/tensorbundle/snappy.js';
import { readTable } from '../ts/convert/tensorbundle/table.js';
import { sharedFixture } from './helpers/fixtures.js';

const ROOT = sharedFixture('savedmodel');

interface ManifestTensor {
  key: string;
  dtype: string;
  shape: number[];
  shard_id: number;
  offset: number;
  size: number;
  crc32c_masked: number;
  sum_f64?: number;
  sum_int?: number;
  first4?: number[];
  string_lengths_first4?: number[];
}

interface ManifestModel {
  name: string;
  bundle: {
    header: { num_shards: number; endianness: number; version: { producer: number; min_consumer: number; bad_consumers: number[] } };
    index: { data_blocks: Array<{ entries: number }> };
    checkpoint_object_graph: { num_nodes: number; num_attributes: number; num_slot_variables: number };
    tensors: ManifestTensor[];
  };
}

const manifest = JSON.parse(await readFile(join(ROOT, 'manifest.json'), 'utf8')) as { models: ManifestModel[] };
const prefixOf = (dir: string): string => join(dir, 'variables', 'variables');

describe('fixture checkpoints written by TensorFlow', () => {
  it.each(manifest.models.map((m) => [m.name, m] as const))('%s: header, entries and every tensor match the manifest', async (_name, model) => {
    const bundle = await TensorBundle.open(prefixOf(join(ROOT, model.name)));
    const { header } = model.bundle;
    expect(bundle.header).toEqual({
      numShards: header.num_shards,
      endianness: header.endianness,
      version: { producer: header.version.producer, minConsumer: header.version.min_consumer, badConsumers: header.version.bad_consumers },
    });
    const table = readTable(await readFile(`${prefixOf(join(ROOT, model.name))}.index`), 'variables.index');
    expect(table.length).toBe(model.bundle.index.data_blocks.reduce((n, b) => n + b.entries, 0));

    expect(bundle.entries.map((e) => ({ key: e.key, dtype: e.dtypeName, shape: e.shape, shard_id: e.shardId, offset: e.offset, size: e.size, crc32c_masked: e.crc32c }))).toEqual(
      model.bundle.tensors.map(({ key, dtype, shape, shard_id, offset, size, crc32c_masked }) => ({ key, dtype, shape, shard_id, offset, size, crc32c_masked })),
    );
    for (const t of model.bundle.tensors) {
      if (t.dtype === 'string') {
        const strings = await bundle.readStrings(t.key);
        expect(strings.slice(0, 4).map((s) => s.length)).toEqual(t.string_lengths_first4);
        continue;
      }
      const { data } = await bundle.readArray(t.key);
      const values = Array.from(data as ArrayLike<number | bigint>, Number);
      expect(values.slice(0, 4), t.key).toEqual(t.first4);
      const sum = values.reduce((a, b) => a + b, 0);
      const expected = t.sum_f64 ?? t.sum_int!;
      expect(Math.abs(sum - expected), t.key).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(expected)));
    }
    const graph = (await bundle.objectGraph())!;
    const counts = model.bundle.checkpoint_object_graph;
    expect(graph.nodes.length).toBe(counts.num_nodes);
    expect(graph.nodes.reduce((n, node) => n + node.attributes.length, 0)).toBe(counts.num_attributes);
    expect(graph.nodes.reduce((n, node) => n + node.slot_variables.length, 0)).toBe(counts.num_slot_variables);
  });
});

describe('codecs', () => {
  it('crc32c matches the Castagnoli check value and extends incrementally', () => {
    const bytes = new TextEncoder().encode('123456789');
    expect(crc32c(bytes)).toBe(0xe3069283);
    expect(crc32c(bytes.subarray(5), crc32c(bytes.subarray(0, 5)))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(maskCrc32c(0)).toBe(0xa282ead8);
  });

  it('snappy: literals and overlapping copies; bad offsets and lengths are errors', () => {
    // 'abc' then a 2-byte-offset copy of 17 bytes from 3 back, which overlaps its own output.
    const ok = Uint8Array.of(20, 0x08, 0x61, 0x62, 0x63, 0x42, 3, 0);
    expect(new TextDecoder().decode(snappyDecompress(ok, 'test'))).toBe('abcabcabcabcabcabcab');
    expect(() => snappyDecompress(Uint8Array.of(20, 0x08, 0x61, 0x62, 0x63, 0x42, 9, 0), 'test')).toThrow(/copy offset 9/);
    expect(() => snappyDecompress(Uint8Array.of(2, 0x08, 0x61, 0x62, 0x63), 'test')).toThrow(/overflows/);
    expect(() => snappyDecompress(Uint8Array.of(9, 0x08, 0x61, 0x62, 0x63), 'test')).toThrow(/3 bytes, 9 declared/);
    expect(() => snappyDecompress(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f), 'test')).toThrow(/more than/);
  });
});

// ---- corrupt copies ----

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function fixed32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
}

/** A block with every entry stored whole (a restart at each entry), plus its uncompressed trailer. */
function block(entries: Array<{ key: Uint8Array; value: Uint8Array }>): number[] {
  const bytes: number[] = [];
  const restarts: number[] = [];
  for (const { key, value } of entries) {
    restarts.push(bytes.length);
    bytes.push(...varint(0), ...varint(key.length), ...varint(value.length), ...key, ...value);
  }
  if (restarts.length === 0) restarts.push(0);
  for (const r of restarts) bytes.push(...fixed32(r));
  bytes.push(...fixed32(restarts.length), 0);
  return [...bytes, ...fixed32(maskCrc32c(crc32c(Uint8Array.from(bytes))))];
}

/** Writes a valid index table holding `entries` (one data block, as TensorFlow writes small bundles). */
function writeTable(entries: Array<{ key: Uint8Array; value: Uint8Array }>): Uint8Array {
  const data = block(entries);
  const meta = block([]);
  const handle = (offset: number, size: number): number[] => [...varint(offset), ...varint(size - 5)];
  const index = block([{ key: entries.at(-1)!.key, value: Uint8Array.from(handle(0, data.length)) }]);
  const footer = [...handle(data.length, meta.length), ...handle(data.length + meta.length, index.length)];
  while (footer.length < 40) footer.push(0);
  footer.push(0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb);
  return Uint8Array.from([...data, ...meta, ...index, ...footer]);
}

describe('corrupt checkpoints give clear errors', () => {
  const SOURCE = join(ROOT, 'real-keras-dense');
  const KERNEL = 'layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE';
  let original: Uint8Array;
  let tmp: string;
  let n = 0;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'musiq-bundle-'));
    original = new Uint8Array(await readFile(`${prefixOf(SOURCE)}.index`)); // a copy, so slice() copies
  });

  /** A copy of the fixture with its index replaced (or a shard edited) — one folder per case. */
  async function corruptCopy(edit: { index?: Uint8Array; shard?: (bytes: Uint8Array) => void }): Promise<string> {
    const dir = join(tmp, `case-${n++}`);
    await cp(SOURCE, dir, { recursive: true });
    if (edit.index) await writeFile(`${prefixOf(dir)}.index`, edit.index);
    if (edit.shard) {
      const path = `${prefixOf(dir)}.data-00000-of-00001`;
      const bytes = await readFile(path);
      edit.shard(bytes);
      await writeFile(path, bytes);
    }
    return prefixOf(dir);
  }

  /** Re-encodes the index with one entry's BundleEntryProto changed. */
  function withEntry(key: string, change: (entry: Record<string, unknown>) => void): Uint8Array {
    const entries = readTable(original, 'variables.index').map(({ key: k, value }) => {
      if (new TextDecoder().decode(k) !== key) return { key: k, value };
      const entry = BundleEntryType.toObject(BundleEntryType.decode(value), { longs: Number }) as Record<string, unknown>;
      change(entry);
      return { key: k, value: BundleEntryType.encode(BundleEntryType.fromObject(entry)).finish() };
    });
    return writeTable(entries);
  }

  it('the test writer reproduces a readable index', async () => {
    const bundle = await TensorBundle.open(await corruptCopy({ index: withEntry(KERNEL, () => undefined) }));
    expect((await bundle.readArray(KERNEL)).shape).toEqual([5, 5]);
  });

  it('a truncated index', async () => {
    for (const length of [original.length - 7, 100, 20, 0]) {
      const prefix = await corruptCopy({ index: original.subarray(0, length) });
      await expect(TensorBundle.open(prefix)).rejects.toThrow(/magic number missing|shorter than the 48-byte table footer|past the end/);
    }
  });

  it('a flipped byte in the data block, the index block and the footer handles', async () => {
    for (const [at, message] of [
      [40, /data block 0: block checksum mismatch/],
      [original.length - 48 - 4, /index block: block checksum mismatch/],
      [original.length - 48 + 1, /checksum mismatch|past the end/],
    ] as const) {
      const index = original.slice();
      index[at]! ^= 0x10;
      await expect(TensorBundle.open(await corruptCopy({ index }))).rejects.toThrow(message);
    }
  });

  it('a wrong crc: corrupt tensor bytes, corrupt string bytes, a wrong stored checksum', async () => {
    const bundle = await TensorBundle.open(prefixOf(SOURCE));
    const kernel = bundle.entry(KERNEL)!;
    const graph = bundle.entry(OBJECT_GRAPH_KEY)!;
    const flipped = await TensorBundle.open(
      await corruptCopy({
        shard: (bytes) => {
          bytes[kernel.offset + 17]! ^= 0x01;
          bytes[graph.offset + 100]! ^= 0x01;
        },
      }),
    );
    await expect(flipped.readArray(KERNEL)).rejects.toThrow(/'layer_with_weights-0\/kernel\/.ATTRIBUTES\/VARIABLE_VALUE' in variables.data-00000-of-00001 fails its checksum/);
    await expect(flipped.objectGraph()).rejects.toThrow(/_CHECKPOINTABLE_OBJECT_GRAPH.*fails its checksum/);
    const wrongCrc = await TensorBundle.open(await corruptCopy({ index: withEntry(KERNEL, (e) => (e.crc32c = (kernel.crc32c + 1) >>> 0)) }));
    await expect(wrongCrc.readArray(KERNEL)).rejects.toThrow(TensorBundleError);
    await expect(wrongCrc.verify(KERNEL)).rejects.toThrow(/fails its checksum/);
  });

  it('an offset or size past the end of the shard', async () => {
    const shardSize = (await stat(`${prefixOf(SOURCE)}.data-00000-of-00001`)).size;
    const past = await TensorBundle.open(await corruptCopy({ index: withEntry(KERNEL, (e) => (e.offset = shardSize - 8)) }));
    await expect(past.readArray(KERNEL)).rejects.toThrow(/lie past the end of variables.data-00000-of-00001/);
    const huge = await TensorBundle.open(await corruptCopy({ index: withEntry(KERNEL, (e) => (e.offset = 2 ** 52)) }));
    await expect(huge.readArray(KERNEL)).rejects.toThrow(/past the end/);
  });

  it('an absurd shape, a negative dimension, a shard that does not exist', async () => {
    const absurd = withEntry(KERNEL, (e) => (e.shape = { dim: [{ size: 1e9 }, { size: 1e9 }, { size: 1e9 }] }));
    await expect(TensorBundle.open(await corruptCopy({ index: absurd }))).rejects.toThrow(/shape \[1000000000, 1000000000, 1000000000\] is absurdly large/);
    const wrongSize = withEntry(KERNEL, (e) => (e.shape = { dim: [{ size: 5000 }, { size: 5 }] }));
    await expect(TensorBundle.open(await corruptCopy({ index: wrongSize }))).rejects.toThrow(/needs 100000 bytes, but the entry stores 100/);
    const negative = withEntry(KERNEL, (e) => (e.shape = { dim: [{ size: -1 }, { size: 5 }] }));
    await expect(TensorBundle.open(await corruptCopy({ index: negative }))).rejects.toThrow(/invalid dimension -1/);
    const shard = withEntry(KERNEL, (e) => (e.shard_id = 3));
    await expect(TensorBundle.open(await corruptCopy({ index: shard }))).rejects.toThrow(/in shard 3, but the bundle has 1 shard/);
  });

  it('a missing data shard and a garbage index', async () => {
    const dir = await corruptCopy({});
    await rm(`${dir}.data-00000-of-00001`);
    await expect(TensorBundle.open(dir)).rejects.toThrow(/data shard variables.data-00000-of-00001 is missing/);
    const garbage = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff);
    await expect(TensorBundle.open(await corruptCopy({ index: garbage }))).rejects.toThrow(TensorBundleError);
  });
});
