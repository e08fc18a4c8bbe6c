// Model inputs prepared from a decoded image. Models with the same preprocessing share one pass per image:
// the four MUSIQ checkpoints differ only in their native-patch cap, so one or two passes serve them all; VILA
// adds one pass of its own (squash, crop, /255).
import type { DecodedImage } from '../image/decode.js';
import { extractTokens, MASK_COLUMN, TOKEN_WIDTH, type TokenSet } from '../preprocess/tokens.js';
import type { MusiqSidecar, VilaSidecar } from '../convert/convert.js';
import { vilaPixels } from '../preprocess/vila.js';

/** One image's model input. Batches stack inputs along a new first axis, padding `shape[0]` with zeros. */
export interface PreparedInput {
  data: Float32Array;
  shape: number[];
  /** Tokens the model sees: the batching cost, and what results report. */
  tokens: number;
}

export interface Preprocessing {
  /** Equal keys mean identical inputs: models with the same key share the pass. */
  readonly key: string;
  /** Name of the model's input tensor. */
  readonly inputName: string;
  prepare(image: DecodedImage, signal?: AbortSignal): Promise<PreparedInput>;
}

export class TokenLimitError extends Error {
  override name = 'TokenLimitError';
}

/** Keeps the rows with mask 1; exact, since real tokens give padding rows zero attention weight (§10.4). */
export function dropPaddingRows(set: TokenSet): PreparedInput {
  const shape = [set.validRows, TOKEN_WIDTH];
  if (set.validRows === set.rows) return { data: set.tokens, shape, tokens: set.rows };
  const out = new Float32Array(set.validRows * TOKEN_WIDTH);
  let kept = 0;
  for (let r = 0; r < set.rows; r++) {
    if (set.tokens[r * TOKEN_WIDTH + MASK_COLUMN] === 0) continue;
    out.set(set.tokens.subarray(r * TOKEN_WIDTH, (r + 1) * TOKEN_WIDTH), kept * TOKEN_WIDTH);
    kept++;
  }
  return { data: out, shape, tokens: kept };
}

const PATCH = 32;

export function musiqPreprocessing(sidecar: MusiqSidecar, nativePatches: 'all' | number, maxTokens: number): Preprocessing {
  const { longerSides } = sidecar.preprocessing;
  const resizedRows = longerSides.reduce((sum, side) => sum + Math.ceil(side / PATCH) ** 2, 0);
  return {
    key: `musiq:${longerSides.join(',')}:${nativePatches}`,
    inputName: 'tokens',
    async prepare(image, signal) {
      const native = Math.ceil(image.height / PATCH) * Math.ceil(image.width / PATCH);
      const rows = resizedRows + (nativePatches === 'all' ? native : Math.min(native, nativePatches));
      if (rows > maxTokens) {
        // Attention memory grows with the square of the sequence (plus the class token): one float32 score
        // matrix per head, refused before allocating it.
        const gib = (sidecar.config.numHeads * (rows + 1) ** 2 * 4) / 2 ** 30;
        const mode = nativePatches === 'all' ? 'at full resolution (every native patch)' : `with native patches capped at ${nativePatches}`;
        // Named for both audiences: the CLI's flags and the library's options.
        const tfhub = nativePatches === 'all' || nativePatches > 1024 ? '; 1024 is TF Hub mode' : '';
        const remedy = `${nativePatches === 'all' ? 'cap the native patches' : 'lower the native-patch cap'} (--native-patches / nativePatches${tfhub})`;
        throw new TokenLimitError(
          `${image.width}×${image.height} gives ${rows} tokens ${mode}, above the limit of ${maxTokens} ` +
            `(attention needs about ${gib.toFixed(1)} GiB per layer for its ${sidecar.config.numHeads} heads); ${remedy} or raise the limit (--max-tokens / maxTokens)`,
        );
      }
      return dropPaddingRows(await extractTokens(image, { longerSides, nativePatches, signal }));
    },
  };
}

/** VILA: one crop×crop×3 image in [0, 1]; `tokens` counts its patches (fixed, so batches need no padding). */
export function vilaPreprocessing(sidecar: VilaSidecar): Preprocessing {
  const { resize, crop } = sidecar.preprocessing;
  const tokens = (crop / sidecar.config.patchSize) ** 2;
  return {
    key: `vila:${resize}:${crop}`,
    inputName: 'pixels',
    async prepare(image, signal) {
      return { data: await vilaPixels(image, { resize, crop }, signal), shape: [crop, crop, 3], tokens };
    },
  };
}
