// The decode contract (README, "What each input becomes"): one test image per row, made here with sharp.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage, DecodeError } from '../ts/image/decode.js';

const W = 8;
const H = 6;

/** An RGB test pattern whose every pixel differs, so orientation and channel order show. */
function pattern(width = W, height = H): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    data[i * 3] = (i * 7) % 256;
    data[i * 3 + 1] = (i * 13 + 50) % 256;
    data[i * 3 + 2] = (i * 29 + 100) % 256;
  }
  return data;
}
const raw = (data: Buffer, channels: 1 | 2 | 3 | 4, width = W, height = H) => sharp(data, { raw: { width, height, channels } });

describe('decodeImage', () => {
  it('RGB PNG: the stored bytes', async () => {
    const png = await raw(pattern(), 3).png().toBuffer();
    const image = await decodeImage(png);
    expect([image.height, image.width]).toEqual([H, W]);
    expect(Buffer.from(image.data)).toEqual(pattern());
    expect(image.conversions).toEqual([]);
  });

  it('RGBA: alpha dropped without compositing', async () => {
    const rgba = Buffer.alloc(W * H * 4);
    const rgb = pattern();
    for (let i = 0; i < W * H; i++) {
      rgb.copy(rgba, i * 4, i * 3, i * 3 + 3);
      rgba[i * 4 + 3] = i % 2 ? 0 : 128; // transparent pixels keep their colour
    }
    const image = await decodeImage(await raw(rgba, 4).png().toBuffer());
    expect(Buffer.from(image.data)).toEqual(rgb);
    expect(image.conversions).toContain('alpha dropped');
  });

  it('greyscale and grey+alpha: grey replicated to R, G and B', async () => {
    const grey = Buffer.from(Array.from({ length: W * H }, (_, i) => (i * 11) % 256));
    const expected = Buffer.from([...grey].flatMap((v) => [v, v, v]));
    const g = await decodeImage(await raw(grey, 1).toColourspace('b-w').png().toBuffer());
    expect(Buffer.from(g.data)).toEqual(expected);
    const la = Buffer.from([...grey].flatMap((v) => [v, 200]));
    const gla = await decodeImage(await raw(la, 2).toColourspace('b-w').png().toBuffer());
    expect(Buffer.from(gla.data)).toEqual(expected);
    expect(gla.conversions).toContain('alpha dropped');
  });

  it('palette PNG: expanded to the palette colours', async () => {
    const solid = Buffer.alloc(W * H * 3);
    for (let i = 0; i < W * H; i++) solid.set(i < (W * H) / 2 ? [255, 0, 0] : [0, 0, 255], i * 3);
    const image = await decodeImage(await raw(solid, 3).png({ palette: true, colours: 4, dither: 0 }).toBuffer());
    expect(Buffer.from(image.data)).toEqual(solid);
  });

  it('16-bit PNG: reduced to 8-bit', async () => {
    const png16 = await raw(pattern(), 3).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    const image = await decodeImage(png16);
    expect(Buffer.from(image.data)).toEqual(pattern());
    expect(image.conversions).toContain('ushort samples reduced to 8-bit');
  });

  it('CMYK JPEG, with and without an embedded profile: converted to sRGB', async () => {
    const colour = { r: 200, g: 60, b: 40 };
    const base = sharp({ create: { width: W, height: H, channels: 3, background: colour } });
    const plain = await base.clone().toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
    const profiled = await base.clone().withIccProfile('cmyk').toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
    for (const file of [plain, profiled]) {
      expect((await sharp(file).metadata()).space).toBe('cmyk');
      const image = await decodeImage(file);
      expect(image.data.length).toBe(W * H * 3);
      expect(image.conversions).toContain('CMYK converted to sRGB');
      // sRGB → CMYK → sRGB through ICC profiles is not lossless (gamut and rendering intent); a wrong
      // conversion (inverted channels, CMYK read as RGB) is off by far more than this sanity bound.
      for (const [c, want] of [colour.r, colour.g, colour.b].entries()) {
        expect(Math.abs(image.data[c]! - want)).toBeLessThanOrEqual(24);
      }
    }
  });

  it('EXIF orientation: ignored by default, applied with autoOrient', async () => {
    const jpeg = await raw(pattern(), 3).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const stored = await decodeImage(jpeg);
    expect([stored.width, stored.height]).toEqual([W, H]);
    const oriented = await decodeImage(jpeg, { autoOrient: true });
    expect([oriented.width, oriented.height]).toEqual([H, W]);
    expect(oriented.conversions).toContain('EXIF orientation 6 applied');
  });

  it('animated GIF: the first frame', async () => {
    const red = await sharp({ create: { width: W, height: H, channels: 3, background: '#ff0000' } }).png().toBuffer();
    const green = await sharp({ create: { width: W, height: H, channels: 3, background: '#00ff00' } }).png().toBuffer();
    const gif = await sharp([red, green], { join: { animated: true } }).gif().toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const image = await decodeImage(gif);
    expect([image.width, image.height]).toEqual([W, H]);
    expect([...image.data.subarray(0, 3)]).toEqual([255, 0, 0]);
    expect(image.conversions).toContain('first frame of an animation');
  });

  it.skipIf(!sharp.format.heif.input.buffer)('AVIF (HEIF container): decoded when libvips has it', async () => {
    const colour = { r: 30, g: 120, b: 220 };
    const avif = await sharp({ create: { width: 16, height: 16, channels: 3, background: colour } }).avif({ quality: 100 }).toBuffer();
    const image = await decodeImage(avif);
    expect(image.format).toBe('heif');
    expect(Math.abs(image.data[0]! - colour.r)).toBeLessThanOrEqual(6);
    expect(Math.abs(image.data[2]! - colour.b)).toBeLessThanOrEqual(6);
  });

  it('refuses images above the pixel limit, naming the flag', async () => {
    const png = await raw(pattern(), 3).png().toBuffer();
    await expect(decodeImage(png, { maxPixels: 10 })).rejects.toThrow(/more than 10 pixels; raise the limit \(--max-pixels\)/);
  });

  it('truncated, empty and non-image inputs are DecodeErrors with a one-line reason', async () => {
    const jpeg = await raw(pattern(64, 64), 3, 64, 64).jpeg().toBuffer();
    const png = await raw(pattern(64, 64), 3, 64, 64).png().toBuffer();
    const zeroWidthPng = Buffer.from(png);
    zeroWidthPng.writeUInt32BE(0, 16); // IHDR width
    for (const bad of [jpeg.subarray(0, jpeg.length >> 1), png.subarray(0, png.length - 40), zeroWidthPng, Buffer.alloc(0), Buffer.from('plain text')]) {
      const error = (await decodeImage(bad).catch((e: unknown) => e)) as Error;
      expect(error).toBeInstanceOf(DecodeError);
      // libvips' multi-line warnings folded; no dangling "header:" and no bare "Unknown error".
      expect(error.message).toMatch(/^buffer: cannot decode image: \S.*[^:\s]$/);
      expect(error.message).not.toMatch(/\n|unknown error$/i);
    }
    await expect(decodeImage(Buffer.alloc(0))).rejects.toThrow(/^buffer: cannot decode image: the file is empty$/);
  });
});
