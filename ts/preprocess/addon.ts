// The only loader of the native addon (build/Release/musiq_native.node, built by `npm run build:native`).
// The binary is looked up walking up from this module's directory, so the same code works from ts/ (vitest, tsx)
// and from dist/ (compiled). MUSIQ_NATIVE_ADDON=/path/to/musiq_native.node overrides the search.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, parse } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Layout of one scale, exactly as the addon returns it. */
export interface NativeScaleLayout {
  scaleId: number;
  /** null for the native-resolution scale. */
  longerSide: number | null;
  resizedHeight: number;
  resizedWidth: number;
  gridHeight: number;
  gridWidth: number;
  validRows: number;
  rowStart: number;
  rowEnd: number;
}

export interface NativeTokenResult {
  tokens: Float32Array;
  rows: number;
  validRows: number;
  layout: NativeScaleLayout[];
}

export interface NativeExtractOptions {
  longerSides: number[];
  /** -1 = all native patches; otherwise pad/cut the native block to this many rows. */
  maxNativePatches: number;
}

/** VILA input geometry: resize the whole image to resize×resize, then centre-crop crop×crop. */
export interface NativeVilaOptions {
  resize: number;
  crop: number;
}

/** What musiq_native.node exports (native/addon.cc). */
export interface NativeBinding {
  extractTokens(pixels: Uint8Array, height: number, width: number, options: NativeExtractOptions): Promise<NativeTokenResult>;
  /** crop×crop×3 float32 in [0, 1] (native/vila_resize.h). */
  vilaPreprocess(pixels: Uint8Array, height: number, width: number, options: NativeVilaOptions): Promise<Float32Array>;
  readonly vilaMaxResize: number;
  hashIndices(count: number): Int32Array;
  resizedSize(height: number, width: number, longerSide: number): [number, number];
  readonly tokenWidth: number;
  readonly patchSize: number;
  readonly maxSide: number;
  readonly maxLongerSide: number;
}

export class NativeLoadError extends Error {
  override name = 'NativeLoadError';
  readonly code = 'ERR_MUSIQ_NATIVE_LOAD';
}

const ADDON_RELATIVE = join('build', 'Release', 'musiq_native.node');
const FIX = 'run `npm run build:native` in the musiq-native package (needs cmake and a C++17 compiler)';

function candidatePaths(): string[] {
  const override = process.env.MUSIQ_NATIVE_ADDON;
  if (override) return [override];
  const paths: string[] = [];
  let dir = dirname(fileURLToPath(import.meta.url));
  const { root } = parse(dir);
  for (;;) {
    paths.push(join(dir, ADDON_RELATIVE));
    if (dir === root) break;
    dir = dirname(dir);
  }
  return paths;
}

let cached: NativeBinding | undefined;

/** Loads the addon once; throws NativeLoadError saying how to fix it. */
export function loadNativeBinding(): NativeBinding {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const path of candidatePaths()) {
    if (!existsSync(path)) {
      tried.push(`${path}: not found`);
      continue;
    }
    let binding: NativeBinding;
    try {
      binding = require(path) as NativeBinding;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new NativeLoadError(`cannot load the native addon ${path}: ${why}\nTo fix it, ${FIX}.`, { cause: err });
    }
    if (typeof binding.extractTokens !== 'function' || typeof binding.vilaPreprocess !== 'function' || binding.tokenWidth !== 3075) {
      throw new NativeLoadError(`${path} is not a compatible musiq-native addon (stale build?). To fix it, ${FIX}.`);
    }
    cached = binding;
    return binding;
  }
  throw new NativeLoadError(`the native addon musiq_native.node is missing. To fix it, ${FIX}.\nLooked in:\n  ${tried.join('\n  ')}`);
}
