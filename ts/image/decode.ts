// Decodes any image sharp/libvips reads into the 8-bit RGB H×W×3 array MUSIQ consumes.
// Rules (musiq-semantics.md §2): greyscale is replicated, alpha is dropped without compositing, CMYK and
// other colour spaces become sRGB, 16-bit becomes 8-bit, animations use their first frame, and EXIF
// orientation is ignored unless asked for, because TensorFlow's decoder in the published models ignores it.
import { stat } from 'node:fs/promises';
import sharp from 'sharp';

export interface DecodeOptions {
  /** Rotate/flip by the EXIF orientation tag. Off by default (TensorFlow ignores it); a parity deviation. */
  autoOrient?: boolean;
  /** Refuse images with more pixels than this (decompression bombs). */
  maxPixels?: number;
}

export interface DecodedImage {
  data: Uint8Array;
  height: number;
  width: number;
  /** Container format as libvips names it (jpeg, png, webp, ...). */
  format: string;
  /** What was done to reach 8-bit RGB, e.g. ['greyscale replicated', 'alpha dropped']. */
  conversions: string[];
}

export class DecodeError extends Error {
  override name = 'DecodeError';
}

/** Default pixel limit: 2^29 / 3, TensorFlow's own decode limit for an RGB image (H·W·C < 2^29). */
export const DEFAULT_MAX_PIXELS = Math.floor(2 ** 29 / 3);

export async function decodeImage(input: string | Uint8Array, options: DecodeOptions = {}): Promise<DecodedImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  try {
    const image = sharp(input, { limitInputPixels: maxPixels, failOn: 'error', page: 0, pages: 1 });
    const meta = await image.metadata();
    const conversions: string[] = [];
    const channels = meta.channels ?? 3;
    if (meta.space === 'b-w' || meta.space === 'grey16' || channels <= 2) conversions.push('greyscale replicated to RGB');
    if (meta.hasAlpha) conversions.push('alpha dropped');
    if (meta.space === 'cmyk') conversions.push('CMYK converted to sRGB');
    if (meta.depth !== undefined && meta.depth !== 'uchar' && meta.depth !== 'char') {
      conversions.push(`${meta.depth} samples reduced to 8-bit`);
    }
    if ((meta.pages ?? 1) > 1) conversions.push('first frame of an animation');
    if (options.autoOrient && meta.orientation !== undefined && meta.orientation !== 1) {
      conversions.push(`EXIF orientation ${meta.orientation} applied`);
    }
    const pipeline = options.autoOrient ? image.rotate() : image;
    const { data, info } = await pipeline
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoder produced ${info.channels} channels instead of 3`);
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      height: info.height,
      width: info.width,
      format: meta.format ?? 'unknown',
      conversions,
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const source = typeof input === 'string' ? input : 'buffer';
    if (/pixel limit/i.test(message)) {
      throw new DecodeError(
        `${source}: image has more than ${maxPixels} pixels; raise the limit (--max-pixels) if this is intended`,
        { cause: error },
      );
    }
    const empty = typeof input === 'string' ? (await stat(input).catch(() => undefined))?.size === 0 : input.byteLength === 0;
    throw new DecodeError(`${source}: cannot decode image: ${empty ? 'the file is empty' : decoderReason(message)}`, { cause: error });
  }
}

/**
 * libvips' message in one line: its repeated warnings folded, a dangling "header:" trimmed, and its bare
 * "Unknown error" (what it says of some truncated files) replaced by what it usually means.
 */
function decoderReason(message: string): string {
  const lines = [...new Set(message.split('\n').map((line) => line.trim().replace(/:$/, '')).filter(Boolean))];
  const reason = lines.join('; ');
  return !reason || /^unknown error$/i.test(reason) ? 'the file is truncated or corrupt (libvips gave no reason)' : reason;
}
