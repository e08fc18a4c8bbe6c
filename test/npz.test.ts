import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readNpz, NpzError } from '../ts/convert/npz.js';
import { parseNpy } from '../ts/convert/npy.js';
import { makeNpy, makeZip } from './helpers/zip.js';
import { MUSIQ_FIXTURES } from './helpers/fixtures.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'musiq-npz-'));
});

async function npzFile(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

const f32 = (...values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);

describe('readNpz on the fixture checkpoints', () => {
  it('reads a stored (np.savez) checkpoint and skips optimizer state when filtered', async () => {
    const all = await readNpz(join(MUSIQ_FIXTURES, 'ckpt_tiny_1class.npz'));
    expect(all.has('opt/state/step')).toBe(true);
    const params = await readNpz(join(MUSIQ_FIXTURES, 'ckpt_tiny_1class.npz'), { keyFilter: (k) => k.startsWith('opt/target/') });
    expect([...params.keys()].every((k) => k.startsWith('opt/target/'))).toBe(true);
    const kernel = params.get('opt/target/conv_root/kernel')!;
    expect(kernel.dtype).toBe('<f4');
    expect(kernel.shape).toEqual([7, 7, 3, 64]);
    expect(kernel.data).toBeInstanceOf(Float32Array);
  });

  it('reads a deflated (np.savez_compressed) file to the same structure', async () => {
    const patches = (await readNpz(join(MUSIQ_FIXTURES, 'patches/chelsea.npz'))).get('patches')!;
    expect(patches.shape).toEqual([343, 3075]);
    // Mask column of row 0 is 1 (a real 224-scale patch), per the fixture README's layout.
    expect(patches.data[3074]).toBe(1);
  });
});

describe('npy parsing', () => {
  it('reads v1, v2 and v3 headers', async () => {
    for (const version of [1, 2, 3] as const) {
      const npy = makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32(1.5, -2), version);
      const array = parseNpy(npy);
      expect(Array.from(array.data as Float32Array)).toEqual([1.5, -2]);
    }
  });

  it('returns Fortran-ordered arrays in C order', () => {
    // The 2×3 matrix [[1,2,3],[4,5,6]] stored column by column.
    const npy = makeNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f32(1, 4, 2, 5, 3, 6));
    expect(Array.from(parseNpy(npy).data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('reads float64 and integer dtypes', () => {
    const f64 = makeNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(Float64Array.of(0.1).buffer));
    expect((parseNpy(f64).data as Float64Array)[0]).toBe(0.1);
    const i4 = makeNpy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 1), }", new Uint8Array(Int32Array.of(-7, 9).buffer));
    expect(Array.from(parseNpy(i4).data as Int32Array)).toEqual([-7, 9]);
  });

  it('never evaluates the header: code in it is a parse error', () => {
    const evil = makeNpy("{'descr': __import__('os').system('echo hi'), 'fortran_order': False, 'shape': (1,), }", f32(1));
    expect(() => parseNpy(evil)).toThrow(/bad .npy header/);
  });

  it('rejects big-endian data', () => {
    const be = makeNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", f32(1));
    expect(() => parseNpy(be)).toThrow(/unsupported dtype '>f4'/);
  });
});

describe('readNpz on hand-made archives', () => {
  const entry = (name: string, data: Uint8Array, deflate = false) => ({ name, data, deflate });
  const good = makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f32(1, 2, 3));

  it('reads zip64 archives, stored and deflated', async () => {
    const path = await npzFile('zip64.npz', makeZip([entry('a.npy', good), entry('b/c.npy', good, true)], { zip64: true }));
    const arrays = await readNpz(path);
    expect(Array.from(arrays.get('a')!.data as Float32Array)).toEqual([1, 2, 3]);
    expect(Array.from(arrays.get('b/c')!.data as Float32Array)).toEqual([1, 2, 3]);
  });

  it('names the file when the zip is truncated', async () => {
    const whole = await readFile(join(MUSIQ_FIXTURES, 'ckpt_tiny_1class.npz'));
    const path = await npzFile('truncated.npz', whole.subarray(0, Math.floor(whole.length / 2)));
    await expect(readNpz(path)).rejects.toThrow(new RegExp(`cannot read ${path.replace(/[/.]/g, '\\$&')}: not a readable zip`));
  });

  it('rejects a bad npy header with the entry named', async () => {
    const path = await npzFile('badheader.npz', makeZip([entry('w.npy', Buffer.from('\x93NUMPY\x01\x00\x10\x00{garbage}       \n', 'latin1'))]));
    await expect(readNpz(path)).rejects.toThrow(NpzError);
    await expect(readNpz(path)).rejects.toThrow(/entry 'w.npy'.*bad .npy header/);
  });

  it('rejects a header claiming more data than the entry holds', async () => {
    const liar = makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1000), }", f32(1, 2, 3));
    const path = await npzFile('liar.npz', makeZip([entry('w.npy', liar)]));
    await expect(readNpz(path)).rejects.toThrow(/entry 'w\.npy': declares 140 bytes but its \.npy header needs 4000128$/);
  });

  // A deflate bomb: a few kilobytes that inflate to far more than the 12 data bytes the .npy header implies.
  const bomb = Buffer.concat([good, Buffer.alloc(64 << 20)]);

  it('refuses an entry declaring more than its .npy header needs, without inflating it', async () => {
    const path = await npzFile('bomb.npz', makeZip([entry('w.npy', bomb, true)]));
    await expect(readNpz(path)).rejects.toThrow(`cannot read ${path}: entry 'w.npy': declares ${bomb.length} bytes but its .npy header needs 140`);
  });

  it('refuses a 6 GiB declared size with the same message (no allocation is attempted)', async () => {
    // Random bytes do not compress, so the archive is large enough for the declared ratio to be possible.
    const data = Buffer.concat([good, randomBytes(6_300_000)]);
    const path = await npzFile('bomb64.npz', makeZip([{ name: 'w.npy', data, deflate: true, declaredSize: 6 * 2 ** 30 }], { zip64: true }));
    await expect(readNpz(path)).rejects.toThrow(`entry 'w.npy': declares ${6 * 2 ** 30} bytes but its .npy header needs 140`);
  });

  it('stops inflating at the size the header needs when the data runs on', async () => {
    const path = await npzFile('runon.npz', makeZip([{ name: 'w.npy', data: bomb, deflate: true, declaredSize: good.length }]));
    await expect(readNpz(path)).rejects.toThrow(/entry 'w\.npy': too many bytes in the stream\. expected 140\./);
  });

  it('rejects an entry whose CRC does not match', async () => {
    const zip = makeZip([entry('w.npy', good)]);
    zip[zip.indexOf(Buffer.from('w.npy')) + 5 + good.length - 1] ^= 0xff; // flip the last data byte
    const path = await npzFile('crc.npz', zip);
    await expect(readNpz(path)).rejects.toThrow(/CRC-32/);
  });

  it('rejects a file that is not a zip at all', async () => {
    const path = await npzFile('text.npz', Buffer.from('this is not a checkpoint\n'));
    await expect(readNpz(path)).rejects.toThrow(/not a readable zip archive/);
  });
});
