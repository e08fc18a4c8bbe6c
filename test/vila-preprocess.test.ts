// Native VILA preprocessing (legacy TF1 bilinear squash, centre crop, /255) against the fixtures' numpy reference.
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../ts/image/decode.js';
import { loadNativeBinding } from '../ts/preprocess/addon.js';
import { VILA_MAX_RESIZE, vilaGeometry, vilaPixels } from '../ts/preprocess/vila.js';
import { maxAbsDiff, readNpyFloats, vilaManifest, vilaPath } from './helpers/vila-fixtures.js';

const { tolerances, config } = vilaManifest;

describe('VILA preprocessing', () => {
  it('derives the resize side from the model size as the fixtures do', () => {
    expect(vilaGeometry(224)).toEqual({ resize: 272, crop: 224 });
    expect(vilaGeometry(config.image_size!)).toEqual({ resize: 78, crop: config.image_size });
  });

  it.each(vilaManifest.cases.map((c) => [c.name, c] as const))('%s: tiny (78 → 64) and real (272 → 224) recipes match', async (name, c) => {
    const image = await decodeImage(vilaPath(c.image));
    expect([image.height, image.width]).toEqual([c.height, c.width]);
    const tiny = await readNpyFloats(c.preprocessed);
    const real = await readNpyFloats(c.preprocessed_224);
    const gotTiny = await vilaPixels(image, vilaGeometry(config.image_size!));
    const gotReal = await vilaPixels(image, vilaGeometry(224));
    expect(tiny.shape).toEqual([config.image_size, config.image_size, 3]);
    expect(real.shape).toEqual([224, 224, 3]);
    const diffs = { tiny: maxAbsDiff(gotTiny, tiny.data), real: maxAbsDiff(gotReal, real.data) };
    console.log(`${name}: max |preprocessed diff| ${diffs.tiny.toExponential(2)}, preprocessed_224 ${diffs.real.toExponential(2)}`);
    expect(diffs.tiny).toBeLessThanOrEqual(tolerances.preprocessed);
    expect(diffs.real).toBeLessThanOrEqual(tolerances.preprocessed_224);
  });

  it('rejects bad sizes with a message naming the field', async () => {
    expect(loadNativeBinding().vilaMaxResize).toBe(VILA_MAX_RESIZE); // TS checks the limit the kernel enforces
    const image = { data: new Uint8Array(12), height: 2, width: 2 };
    await expect(vilaPixels(image, { resize: 0, crop: 1 })).rejects.toThrow(RangeError);
    await expect(vilaPixels(image, { resize: 0, crop: 1 })).rejects.toThrow(new RegExp(`Expected geometry.resize in \\[1, ${VILA_MAX_RESIZE}\\] but received 0`));
    await expect(vilaPixels(image, { resize: 8, crop: 9 })).rejects.toThrow(/Expected geometry.crop in \[1, 8\] but received 9/);
    await expect(vilaPixels({ ...image, height: 3 }, { resize: 8, crop: 4 })).rejects.toThrow(/image.data has 12 bytes, expected height\*width\*3 = 18/);
    const px = await vilaPixels(image, { resize: 8, crop: 4 });
    expect(px).toHaveLength(4 * 4 * 3);
  });
});
