// Checks of createScorer's option values, for library callers (the CLI checks its flags' text before this).
// Left to the engine, a bad value misbehaves far from its cause: negative weights give a combined score outside
// every model's own, a misspelt model name in a per-model table is silently ignored, and 100000 threads grow
// memory for minutes before ONNX Runtime gives up.
import { availableParallelism } from 'node:os';
import type { ScorerOptions } from './scorer.js';

export class ScorerOptionError extends RangeError {
  override name = 'ScorerOptionError';
}

/** The most native patches a cap may name: far above any real image's count, low enough to catch unit slips. */
export const MAX_NATIVE_PATCHES = 1_000_000;

/** The most ONNX Runtime threads asked for: beyond a few per core they only cost memory and start-up time. */
export const maxThreads = (): number => 4 * availableParallelism();

/** Names in a per-model table that are not among the models run. */
export function unknownModelNames(table: object, models: readonly string[]): string[] {
  return Object.keys(table).filter((name) => !models.includes(name));
}

/** Whether every weight is 0 (the combined score would be 0/0). */
export const allWeightsZero = (weights: Record<string, number>): boolean => Object.values(weights).every((w) => w === 0);

function wholeNumberAtLeast(option: string, value: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= min && value <= max)) {
    throw new ScorerOptionError(`createScorer: ${option} must be a whole number from ${min} to ${max}, not ${String(value)}`);
  }
}

function knownNames(option: string, table: object, models: readonly string[]): void {
  const unknown = unknownModelNames(table, models);
  if (unknown.length > 0) {
    throw new ScorerOptionError(`createScorer: ${option} names ${unknown.map((n) => `'${n}'`).join(', ')}, not among the models (${models.join(', ')})`);
  }
}

function checkCap(option: string, cap: unknown): void {
  if (cap !== undefined && cap !== 'all') wholeNumberAtLeast(option, cap as number, 0, MAX_NATIVE_PATCHES);
}

/** The values that need no model names; run before any model is fetched. Throws a ScorerOptionError naming the option. */
export function checkScorerOptions(options: ScorerOptions): void {
  wholeNumberAtLeast('threads', options.threads, 1, maxThreads());
  wholeNumberAtLeast('maxTokens', options.maxTokens, 1);
  wholeNumberAtLeast('maxPixels', options.maxPixels, 1);
  wholeNumberAtLeast('prefetch', options.prefetch, 1);
  wholeNumberAtLeast('batch.tokenBudget', options.batch?.tokenBudget, 1);
  wholeNumberAtLeast('batch.maxImages', options.batch?.maxImages, 1);
  const patches = options.nativePatches;
  if (typeof patches === 'object') for (const [name, cap] of Object.entries(patches)) checkCap(`nativePatches.${name}`, cap);
  else checkCap('nativePatches', patches);
  if (options.weights !== undefined) {
    const values = Object.values(options.weights);
    if (!values.every((w) => Number.isFinite(w) && w >= 0)) throw new ScorerOptionError('createScorer: weights must be finite numbers ≥ 0');
    if (allWeightsZero(options.weights)) throw new ScorerOptionError('createScorer: every weight is 0; give at least one model a weight above 0');
  }
}

/** The per-model tables name models of this scorer (`models`: the resolved names); a typo would be ignored. */
export function checkModelTables(options: ScorerOptions, models: readonly string[]): void {
  if (typeof options.nativePatches === 'object') knownNames('nativePatches', options.nativePatches, models);
  if (options.weights !== undefined) knownNames('weights', options.weights, models);
}
