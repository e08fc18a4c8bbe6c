// Native multi-scale token extraction against the MUSIQ parity fixtures (musiq-semantics.md §3–9).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNpz } from '../ts/convert/npz.js';
import { decodeImage } from '../ts/image/decode.js';
import { loadNativeBinding } from '../ts/preprocess/addon.js';
import {
  HASH_COLUMN,
  MASK_COLUMN,
  PATCH_VALUES,
  SCALE_COLUMN,
  TOKEN_WIDTH,
  PreprocessError,
  extractTokens,
  hashIndices,
  resizedSize,
  type RgbImage,
  type TokenSet,
} from '../ts/preprocess/tokens.js';

import { MUSIQ_FIXTURES as FIXTURES, musiqManifest } from './helpers/fixtures.js';

const PATCH_TOL = 1e-5; // manifest tolerances.patches_abs; observed: 0 (bit-identical)

interface ManifestLayout {
  scale_id: number;
  longer_side: number | null;
  resized_hw: [number, number];
  grid_hw: [number, number];
  valid_rows: number;
  rows: [number, number];
}
interface ManifestImage {
  name: string;
  file: string;
  height: number;
  width: number;
  patches_file: string;
  patches_shape: [number, number];
  num_valid_tokens: number;
  layout: ManifestLayout[];
}

// The shared fixtures are required: a missing folder fails the suite rather than skipping it.
const manifest = musiqManifest as unknown as { images: ManifestImage[] };

async function expectedPatches(image: ManifestImage): Promise<Float32Array> {
  const arrays = await readNpz(join(FIXTURES, image.patches_file));
  const patches = arrays.get('patches');
  if (!patches || !(patches.data instanceof Float32Array)) throw new Error(`${image.patches_file}: no float32 'patches'`);
  expect(patches.shape).toEqual(image.patches_shape);
  return patches.data;
}

async function fixtureImage(image: ManifestImage): Promise<RgbImage> {
  const decoded = await decodeImage(join(FIXTURES, image.file));
  expect([decoded.height, decoded.width]).toEqual([image.height, image.width]);
  return decoded;
}

function row(t: Float32Array, r: number): Float32Array {
  return t.subarray(r * TOKEN_WIDTH, (r + 1) * TOKEN_WIDTH);
}

/** Max |a-b| over pixel columns; exact equality required for hash/scale/mask columns. */
function compareRows(got: Float32Array, want: Float32Array, rows: number): number {
  let maxDiff = 0;
  for (let r = 0; r < rows; r++) {
    const g = row(got, r);
    const w = row(want, r);
    for (let k = 0; k < PATCH_VALUES; k++) maxDiff = Math.max(maxDiff, Math.abs(g[k] - w[k]));
    for (const k of [HASH_COLUMN, SCALE_COLUMN, MASK_COLUMN]) {
      if (g[k] !== w[k]) throw new Error(`row ${r} column ${k}: got ${g[k]}, expected ${w[k]}`);
    }
  }
  return maxDiff;
}

function randomImage(height: number, width: number, seed = 1): RgbImage {
  const data = new Uint8Array(height * width * 3);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
  return { data, height, width };
}

describe('tokens match the parity fixtures', () => {
  let worst = 0;
  for (const image of manifest.images) {
    it(`${image.name} (${image.height}x${image.width})`, async () => {
      const [set, want] = await Promise.all([fixtureImage(image).then((img) => extractTokens(img)), expectedPatches(image)]);
      expect(set.rows).toBe(image.patches_shape[0]);
      expect(set.tokens.length).toBe(want.length);
      expect(set.validRows).toBe(image.num_valid_tokens);
      expect(set.layout).toEqual(
        image.layout.map((l) => ({
          scaleId: l.scale_id,
          longerSide: l.longer_side,
          resizedHeight: l.resized_hw[0],
          resizedWidth: l.resized_hw[1],
          gridHeight: l.grid_hw[0],
          gridWidth: l.grid_hw[1],
          validRows: l.valid_rows,
          rowStart: l.rows[0],
          rowEnd: l.rows[1],
        })),
      );
      const maxDiff = compareRows(set.tokens, want, set.rows);
      worst = Math.max(worst, maxDiff);
      console.log(`[preprocess] ${image.name}: ${set.rows} rows, max |diff| ${maxDiff} (worst so far ${worst})`);
      expect(maxDiff).toBeLessThanOrEqual(PATCH_TOL);
    });
  }

  it('caps the native block (mode B) by cutting or zero-padding', async () => {
    const image = manifest.images.find((i) => i.name === 'astronaut')!;
    const native = image.layout.find((l) => l.longer_side === null)!;
    const nativeCount = native.grid_hw[0] * native.grid_hw[1];
    const start = native.rows[0];
    const [rgb, want] = await Promise.all([fixtureImage(image), expectedPatches(image)]);

    for (const cap of [16, nativeCount + 40, 0]) {
      const set: TokenSet = await extractTokens(rgb, { nativePatches: cap });
      const kept = Math.min(cap, nativeCount);
      expect(set.nativePatches).toBe(cap);
      expect(set.rows).toBe(start + cap);
      expect(set.validRows).toBe(image.num_valid_tokens - nativeCount + kept);
      expect(set.layout.at(-1)).toMatchObject({ rowStart: start, rowEnd: start + cap, validRows: kept });
      // Resized blocks and the first `kept` native rows are those of the uncapped run (full-grid hash kept).
      expect(compareRows(set.tokens, want, start + kept)).toBe(0);
      // Rows past the native patches are all zero, mask 0.
      for (let r = start + kept; r < set.rows; r++) {
        expect(row(set.tokens, r).every((v) => v === 0)).toBe(true);
      }
    }
  });
});

describe('sizes and hash grid', () => {
  it('resized sizes follow float32 + round-half-even (§4 table)', () => {
    expect(resizedSize(728, 2048, 384)).toEqual([136, 384]); // 136.5 -> 136, not std::round's 137
    expect(resizedSize(54, 384, 224)).toEqual([31, 224]); // f32 31.499998
    expect(resizedSize(102, 384, 224)).toEqual([59, 224]);
    expect(resizedSize(100, 80, 224)).toEqual([224, 179]);
    expect(resizedSize(100, 80, 384)).toEqual([384, 307]);
    expect(resizedSize(384, 512, 224)).toEqual([168, 224]);
    expect(resizedSize(384, 512, 384)).toEqual([288, 384]);
    expect(resizedSize(1000, 2, 224)).toEqual([224, 0]);
  });

  it('hash indices match the legacy nearest-neighbour table (§7)', () => {
    const table: Record<number, number[]> = {
      1: [0],
      2: [0, 5],
      3: [0, 3, 6],
      4: [0, 2, 5, 7],
      5: [0, 2, 4, 6, 8],
      6: [0, 1, 3, 5, 6, 8],
      7: [0, 1, 2, 4, 5, 7, 8],
      8: [0, 1, 2, 3, 5, 6, 7, 8],
      9: [0, 1, 2, 3, 4, 5, 6, 7, 8],
      10: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      11: [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      12: [0, 0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9],
      13: [0, 0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9],
      14: [0, 0, 1, 2, 2, 3, 4, 5, 5, 6, 7, 7, 8, 9],
      16: [0, 0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 6, 7, 8, 8, 9],
    };
    for (const [count, idx] of Object.entries(table)) expect(hashIndices(Number(count)), `count ${count}`).toEqual(idx);
    // Pitfall from §7: integer arithmetic (10*41)//205 = 2, TF gives 1.
    expect(hashIndices(205)[41]).toBe(1);
  });

  it('token hash column of a 6x7 grid (384x512 at 224) matches §7', async () => {
    const set = await extractTokens(randomImage(384, 512), { longerSides: [224] });
    const s0 = set.layout[0];
    expect([s0.resizedHeight, s0.resizedWidth, s0.gridHeight, s0.gridWidth]).toEqual([168, 224, 6, 7]);
    const hashes = Array.from({ length: 42 }, (_, r) => row(set.tokens, r)[HASH_COLUMN]);
    const rows = [0, 1, 3, 5, 6, 8];
    const cols = [0, 1, 2, 4, 5, 7, 8];
    expect(hashes).toEqual(rows.flatMap((r) => cols.map((c) => r * 10 + c)));
    // Rows 42..48 pad the 224 block; the native scale has id 1 with longerSides [224].
    expect(row(set.tokens, 42).every((v) => v === 0)).toBe(true);
    expect(set.layout[1]).toMatchObject({ scaleId: 1, longerSide: null, rowStart: 49, gridHeight: 12, gridWidth: 16 });
    expect(row(set.tokens, 49)[SCALE_COLUMN]).toBe(1);
  });
});

describe('inputs', () => {
  it('reads a Uint8Array view at a byte offset and supports longerSides []', async () => {
    const image = randomImage(40, 70, 9);
    const backing = new Uint8Array(image.data.length + 13);
    backing.set(image.data, 13);
    const view = { data: backing.subarray(13), height: 40, width: 70 };
    const [a, b] = await Promise.all([extractTokens(image), extractTokens(view)]);
    expect(Buffer.from(b.tokens.buffer).equals(Buffer.from(a.tokens.buffer))).toBe(true);

    const single = await extractTokens(image, { longerSides: [] });
    expect(single.rows).toBe(2 * 3);
    expect(single.layout).toEqual([
      { scaleId: 0, longerSide: null, resizedHeight: 40, resizedWidth: 70, gridHeight: 2, gridWidth: 3, validRows: 6, rowStart: 0, rowEnd: 6 },
    ]);
    // Native rows equal the native block of the multi-scale run, except for the scale id.
    const nativeStart = a.layout[2].rowStart;
    for (let r = 0; r < 6; r++) {
      const x = row(single.tokens, r);
      const y = row(a.tokens, nativeStart + r);
      expect(x.subarray(0, SCALE_COLUMN)).toEqual(y.subarray(0, SCALE_COLUMN));
      expect([x[SCALE_COLUMN], y[SCALE_COLUMN], x[MASK_COLUMN]]).toEqual([0, 2, 1]);
    }
  });
});

describe('errors', () => {
  it('rejects an image too thin to resize, as TensorFlow does', async () => {
    const err = await extractTokens(randomImage(1000, 2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreprocessError);
    expect((err as PreprocessError).code).toBe('ERR_MUSIQ_PREPROCESS');
    expect((err as Error).message).toMatch(/too thin: 1000x2 \(HxW\) resizes to 224x0 at longer side 224/);
    expect((err as Error).message).toMatch(/output dimensions must be positive/);
  });

  it('rejects a pixel buffer of the wrong length (TS and native layers)', async () => {
    const bad = { data: new Uint8Array(10 * 10 * 3 - 1), height: 10, width: 10 };
    await expect(extractTokens(bad)).rejects.toThrow(/image.data has 299 bytes, expected height\*width\*3 = 300/);
    await expect(extractTokens(bad)).rejects.toBeInstanceOf(RangeError);
    const binding = loadNativeBinding();
    await expect(binding.extractTokens(bad.data, 10, 10, { longerSides: [224, 384], maxNativePatches: -1 })).rejects.toThrow(
      /pixel buffer has 299 bytes, expected height\*width\*3 = 300/,
    );
    await expect(binding.extractTokens(new Uint8Array(3), 0, 1, { longerSides: [], maxNativePatches: -1 })).rejects.toThrow(
      /at least 1x1/,
    );
  });

  it('rejects wrong types with TypeErrors naming the argument', async () => {
    await expect(extractTokens({ data: new Float32Array(3) as unknown as Uint8Array, height: 1, width: 1 })).rejects.toThrow(
      /Expected a Uint8Array of H×W×3 RGB bytes for image.data but received a Float32Array/,
    );
    await expect(extractTokens(randomImage(4, 4), { nativePatches: -1 })).rejects.toThrow(TypeError);
    await expect(extractTokens(randomImage(4, 4), { longerSides: [224, 0] })).rejects.toThrow(RangeError);
    const binding = loadNativeBinding();
    const call = (...args: unknown[]) => (binding.extractTokens as (...a: unknown[]) => unknown)(...args);
    expect(() => call([1, 2, 3], 1, 1, { longerSides: [], maxNativePatches: -1 })).toThrow(TypeError);
    expect(() => call(new Uint8Array(3), 1.5, 1, { longerSides: [], maxNativePatches: -1 })).toThrow(/height must be an integer/);
    expect(() => call(new Uint8Array(3), 1, 1, { longerSides: ['224'], maxNativePatches: -1 })).toThrow(
      /options.longerSides\[0\] must be an integer/,
    );
    expect(() => call(new Uint8Array(3), 1, 1)).toThrow(/expects 4 arguments/);
  });

  it('refuses a token tensor above 2^31 - 1 floats with a clear message', async () => {
    await expect(extractTokens(randomImage(8, 8), { nativePatches: 2 ** 40 })).rejects.toThrow(
      /too many tokens: 8x8 \(HxW\) with a native block capped at 1099511627776 rows .* above the limit of 698368 rows/,
    );
  });

  it('honours an AbortSignal', async () => {
    await expect(extractTokens(randomImage(8, 8), { signal: AbortSignal.abort() })).rejects.toThrow(/aborted/i);
    const controller = new AbortController();
    const pending = extractTokens(randomImage(2000, 2000), { signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
  });
});

describe('scheduling and speed', () => {
  it('runs off the main thread: timers fire during a 4000x3000 extraction', async () => {
    const image = randomImage(3000, 4000);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    let immediate = false;
    setImmediate(() => (immediate = true));
    const t0 = performance.now();
    const set = await extractTokens(image);
    const ms = performance.now() - t0;
    clearInterval(timer);
    expect(set.rows).toBe(49 + 144 + 94 * 125);
    expect(immediate).toBe(true);
    expect(ticks).toBeGreaterThan(0);
    console.log(`[preprocess] 4000x3000: ${ms.toFixed(0)} ms, ${ticks} timer ticks while it ran`);
  });
});
