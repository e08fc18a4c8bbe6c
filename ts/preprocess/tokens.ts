// MUSIQ multi-scale tokens (musiq-semantics.md §3–9), computed by the native addon on the libuv thread pool.
// TS validates and defaults the options; the C++ kernel re-checks every size and never trusts the input.
import { loadNativeBinding, type NativeBinding, type NativeScaleLayout } from './addon.js';

/** Floats per token row: 3072 patch values + hash position + scale id + mask. */
export const TOKEN_WIDTH = 3075;
export const PATCH_SIZE = 32;
export const CHANNELS = 3;
/** Patch values per row, in (row, column, channel) order. */
export const PATCH_VALUES = PATCH_SIZE * PATCH_SIZE * CHANNELS;
export const HASH_COLUMN = 3072;
export const SCALE_COLUMN = 3073;
export const MASK_COLUMN = 3074;
export const HASH_GRID_SIZE = 10;
/** Longer sides of the resized scales in the published models (scale ids 0 and 1; native is 2). */
export const DEFAULT_LONGER_SIDES: readonly number[] = Object.freeze([224, 384]);
/** Native patches kept by the TF Hub / Kaggle SavedModels (mode B, §9); the script default is 'all'. */
export const HUB_NATIVE_PATCHES = 1024;
/** Largest accepted image side and resized longer side (native/patch_tokens.h). */
export const MAX_SIDE = 2 ** 20;
export const MAX_LONGER_SIDE = 4096;

export interface RgbImage {
  /** H × W × 3 RGB bytes, row-major. */
  data: Uint8Array;
  height: number;
  width: number;
}

export interface ExtractTokensOptions {
  /** Longer sides of the resized scales; sorted ascending, as the reference does. Default [224, 384]. */
  longerSides?: readonly number[];
  /** 'all' (mode A, default) or pad/cut the native block to this many rows (mode B: 1024). */
  nativePatches?: 'all' | number;
  /** Rejects the promise on abort; the native pass still runs to completion in the background. */
  signal?: AbortSignal;
}

export type ScaleLayout = NativeScaleLayout;

export interface TokenSet {
  /** rows × TOKEN_WIDTH float32, row-major. */
  tokens: Float32Array;
  rows: number;
  /** Rows with mask 1. */
  validRows: number;
  /** One entry per scale, resized scales first (ascending), native last. */
  layout: ScaleLayout[];
  nativePatches: 'all' | number;
}

/** Error from the native pass (e.g. an image too thin to resize); `message` says what and why. */
export class PreprocessError extends Error {
  override name = 'PreprocessError';
  readonly code = 'ERR_MUSIQ_PREPROCESS';
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return `${typeof v} ${JSON.stringify(v)}`;
  return typeof v;
}

function invalid(name: string, expected: string, actual: unknown): never {
  throw new TypeError(`Expected ${expected} for ${name} but received ${describe(actual)}`);
}

export function checkSide(name: string, v: unknown, max: number): number {
  if (!isInt(v)) invalid(name, 'an integer', v);
  if (v < 1 || v > max) throw new RangeError(`Expected ${name} in [1, ${max}] but received ${v}`);
  return v;
}

/**
 * Turns an H×W×3 RGB image into MUSIQ token rows: [224 block (49 rows)][384 block (144 rows)][native block].
 * Pixels match the TensorFlow reference to float32 bit level.
 */
export async function extractTokens(image: RgbImage, options: ExtractTokensOptions = {}): Promise<TokenSet> {
  const { data, height, width } = checkImage(image);

  const sidesIn = options.longerSides ?? DEFAULT_LONGER_SIDES;
  if (!Array.isArray(sidesIn)) invalid('options.longerSides', 'an array of integers', sidesIn);
  const longerSides = sidesIn.map((v, i) => checkSide(`options.longerSides[${i}]`, v, MAX_LONGER_SIDE)).sort((a, b) => a - b);

  const nativePatches = options.nativePatches ?? 'all';
  if (nativePatches !== 'all' && !(isInt(nativePatches) && nativePatches >= 0)) {
    invalid('options.nativePatches', "'all' or an integer >= 0", nativePatches);
  }
  const { signal } = options;
  signal?.throwIfAborted();

  const result = await runNative(
    (binding) => binding.extractTokens(data, height, width, { longerSides, maxNativePatches: nativePatches === 'all' ? -1 : nativePatches }),
    signal,
  );
  return { ...result, nativePatches };
}

/** Checks an RGB image's fields and byte count before it reaches the addon. */
export function checkImage(image: RgbImage): RgbImage {
  if (typeof image !== 'object' || image === null) invalid('image', 'an object {data, height, width}', image);
  const { data } = image;
  if (!(data instanceof Uint8Array)) invalid('image.data', 'a Uint8Array of H×W×3 RGB bytes', data);
  const height = checkSide('image.height', image.height, MAX_SIDE);
  const width = checkSide('image.width', image.width, MAX_SIDE);
  if (data.length !== height * width * CHANNELS) {
    throw new RangeError(
      `image.data has ${data.length} bytes, expected height*width*3 = ${height * width * CHANNELS} for a ${height}x${width} (HxW) RGB image`,
    );
  }
  return { data, height, width };
}

/**
 * Runs one native pass: its errors become PreprocessError with the caller's stack, and an abort rejects at
 * once (the native pass still runs to completion in the background).
 */
export async function runNative<T>(start: (binding: NativeBinding) => Promise<T>, signal?: AbortSignal): Promise<T> {
  const binding = loadNativeBinding();
  const caller = new Error();  // captures the caller's stack for native errors
  const work = start(binding).catch((err: unknown) => {
    const error = new PreprocessError(err instanceof Error ? err.message : String(err), { cause: err });
    error.stack = `${error.name}: ${error.message}${caller.stack?.slice(caller.stack.indexOf('\n')) ?? ''}`;
    throw error;
  });
  if (!signal) return work;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
    work.catch(() => undefined);  // an abandoned pass must not raise an unhandled rejection
  }
}

/** Legacy nearest-neighbour hash indices (§7) of one axis with `count` patches, from the native kernel. */
export function hashIndices(count: number): number[] {
  checkSide('count', count, MAX_SIDE);
  return Array.from(loadNativeBinding().hashIndices(count));
}

/** Resized [height, width] for a longer side (§4); a 0 means TensorFlow would refuse the image. */
export function resizedSize(height: number, width: number, longerSide: number): [number, number] {
  checkSide('height', height, MAX_SIDE);
  checkSide('width', width, MAX_SIDE);
  checkSide('longerSide', longerSide, MAX_SIDE);
  return loadNativeBinding().resizedSize(height, width, longerSide);
}
