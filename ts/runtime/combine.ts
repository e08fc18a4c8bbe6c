// Normalised and combined scores, as the original scoring system reports them: each model's score mapped to
// 0..1 by its documented range, a weighted mean over the models actually run, and the median as an
// outlier-robust variant.

/** Default weights of the combined score; renormalised over the models run. */
export const DEFAULT_WEIGHTS: Readonly<Record<string, number>> = Object.freeze({
  koniq: 0.3,
  spaq: 0.25,
  paq2piq: 0.2,
  vila: 0.15,
  ava: 0.1,
});

export function normalizeScore(score: number, [low, high]: readonly [number, number]): number {
  return Math.min(1, Math.max(0, (score - low) / (high - low)));
}

export interface Combined {
  /** Weighted mean of the normalised scores. */
  weighted: number;
  /** Median of the normalised scores. */
  median: number;
}

/**
 * Combines normalised scores keyed by model name. Models without a weight get 0; when no model run has a
 * weight (custom models only), every model counts equally.
 */
export function combineScores(normalized: Record<string, number>, weights: Readonly<Record<string, number>> = DEFAULT_WEIGHTS): Combined {
  const names = Object.keys(normalized);
  if (names.length === 0) throw new Error('no scores to combine');
  let total = names.reduce((sum, name) => sum + (weights[name] ?? 0), 0);
  const weightOf = total > 0 ? (name: string) => weights[name] ?? 0 : () => 1;
  if (total <= 0) total = names.length;
  const weighted = names.reduce((sum, name) => sum + weightOf(name) * normalized[name]!, 0) / total;
  const sorted = names.map((n) => normalized[n]!).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { weighted, median };
}

/** Parses `koniq=0.3,spaq=0.25` into a weight table. */
export function parseWeights(text: string): Record<string, number> {
  const weights: Record<string, number> = {};
  for (const part of text.split(',').filter(Boolean)) {
    const [name, value] = part.split('=');
    const weight = Number(value);
    if (!name || value === undefined || !Number.isFinite(weight) || weight < 0) {
      throw new Error(`weights: expected name=value with a non-negative number, got '${part}'`);
    }
    weights[name.trim()] = weight;
  }
  return weights;
}
