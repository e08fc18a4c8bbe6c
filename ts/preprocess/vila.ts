// VILA-R model input (vila.md §2): the whole image squashed to resize×resize with TF1 legacy bilinear, a centre
// crop of the model's image size, /255, clipped to [0, 1]. Computed by the native addon on the libuv pool.
import { checkImage, checkSide, runNative, type RgbImage } from './tokens.js';

/** The published recipe: resize to 272, crop 224. */
export const VILA_IMAGE_SIZE = 224;
export const VILA_RESIZE = 272;
/** Largest accepted resize side (native/vila_resize.h). */
export const VILA_MAX_RESIZE = 4096;

export interface VilaGeometry {
  /** Side of the squashed image. */
  resize: number;
  /** Side of the centre crop: the model's image size. */
  crop: number;
}

/** The published 272 → 224 recipe scaled to another model size (64 → 78 for the tiny fixture). */
export function vilaGeometry(imageSize: number): VilaGeometry {
  return { resize: Math.round((imageSize * VILA_RESIZE) / VILA_IMAGE_SIZE), crop: imageSize };
}

/** crop×crop×3 float32 (HWC, row-major) in [0, 1]. */
export async function vilaPixels(image: RgbImage, geometry: VilaGeometry, signal?: AbortSignal): Promise<Float32Array> {
  const { data, height, width } = checkImage(image);
  const resize = checkSide('geometry.resize', geometry.resize, VILA_MAX_RESIZE);
  const crop = checkSide('geometry.crop', geometry.crop, resize);
  signal?.throwIfAborted();
  return runNative((binding) => binding.vilaPreprocess(data, height, width, { resize, crop }), signal);
}
