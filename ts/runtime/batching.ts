// Batching by token budget: consecutive images share a batch while the padded cost (images × longest
// sequence) stays within the budget, so a 12 MP photo never shares a batch with fifty thumbnails. Shorter
// sequences are padded with zero rows whose mask is 0, which leaves every score unchanged.

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

/**
 * Stacks inputs into one (batch, longest, ...rest) tensor; inputs shorter along the first axis are padded
 * with zero rows (for MUSIQ tokens: mask 0). The other axes must agree.
 */
export function padBatch(inputs: ReadonlyArray<{ data: Float32Array; shape: number[] }>): { data: Float32Array; dims: number[] } {
  const rest = inputs[0]!.shape.slice(1);
  const rowSize = rest.reduce((a, b) => a * b, 1);
  if (inputs.some((x) => x.shape.length !== rest.length + 1 || x.shape.slice(1).some((d, i) => d !== rest[i]))) {
    throw new Error('internal: batched inputs disagree beyond their first axis');
  }
  const longest = Math.max(...inputs.map((x) => x.shape[0]!));
  const stride = longest * rowSize;
  const data = new Float32Array(inputs.length * stride);
  inputs.forEach((x, i) => data.set(x.data.subarray(0, x.shape[0]! * rowSize), i * stride));
  return { data, dims: [inputs.length, longest, ...rest] };
}
