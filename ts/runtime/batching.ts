// Batching by token budget: consecutive images share a batch while the padded cost (images × longest
// sequence) stays within the budget, so a 12 MP photo never shares a batch with fifty thumbnails. Shorter
// sequences are padded with zero rows whose mask is 0, which leaves every score unchanged.
import { TOKEN_WIDTH } from '../preprocess/tokens.js';

export interface BatchLimits {
  /** Maximum of images × rows in one batch. */
  tokenBudget: number;
  /** Maximum images in one batch. */
  maxImages: number;
}

/** Whether an image with `rows` tokens may join a batch whose members have `batchRows`. */
export function fitsBatch(batchRows: readonly number[], rows: number, limits: BatchLimits): boolean {
  if (batchRows.length === 0) return true;
  if (batchRows.length >= limits.maxImages) return false;
  const longest = Math.max(rows, ...batchRows);
  return longest * (batchRows.length + 1) <= limits.tokenBudget;
}

/** Stacks token sets of different lengths into one (batch, longest, 3075) tensor, padding with zero rows. */
export function padBatch(sets: ReadonlyArray<{ tokens: Float32Array; rows: number }>): { tokens: Float32Array; dims: number[] } {
  const longest = Math.max(...sets.map((s) => s.rows));
  const stride = longest * TOKEN_WIDTH;
  const tokens = new Float32Array(sets.length * stride);
  sets.forEach((set, i) => tokens.set(set.tokens.subarray(0, set.rows * TOKEN_WIDTH), i * stride));
  return { tokens, dims: [sets.length, longest, TOKEN_WIDTH] };
}
