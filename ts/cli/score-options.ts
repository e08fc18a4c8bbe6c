// Checks of `score`'s option values. They run at startup, so a bad value is a usage error naming its flag before
// any model is loaded or any image scored (left to the engine, `--threads 100000` grows memory for minutes and
// `--max-pixels 0` silently turns the decompression-bomb limit off).
import type { NativePatches } from '../runtime/scorer.js';
import { allWeightsZero, MAX_NATIVE_PATCHES, unknownModelNames } from '../runtime/scorer-options.js';
import { UsageError } from './output.js';

const DECIMAL_WHOLE = /^\d+$/;

/** A decimal whole number from `min` to `max` (`1e3`, `0x10`, `-1` and '' are refused, not reinterpreted). */
export function wholeNumber(flag: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const text = String(value);
  const n = DECIMAL_WHOLE.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of ${min} or more` : `from ${min} to ${max}`;
    throw new UsageError(`--${flag}: expected a whole number ${range}, not '${text}'`);
  }
  return n;
}

/** `name=value,...` as a table: each name once, each value through `parse` (undefined: refused as not `expected`). */
function namedValues<T>(flag: string, text: string, parse: (value: string) => T | undefined, expected: string): Record<string, T> {
  const table: Record<string, T> = {};
  for (const part of text.split(',')) {
    const [name = '', value, ...rest] = part.split('=').map((s) => s.trim());
    const parsed = value === undefined || rest.length > 0 ? undefined : parse(value);
    if (!name || parsed === undefined) throw new UsageError(`--${flag}: expected name=value with ${expected}, not '${part}'`);
    if (name in table) throw new UsageError(`--${flag}: '${name}' is given twice`);
    table[name] = parsed;
  }
  return table;
}

/** Refuses names in a per-model table that are not among the models run (a typo would be silently ignored). */
export function checkModelNames(flag: string, table: object | undefined, models: string[]): void {
  const unknown = unknownModelNames(table ?? {}, models);
  if (unknown.length > 0) throw new UsageError(`--${flag}: no model named ${unknown.map((n) => `'${n}'`).join(', ')} in this run (models: ${models.join(', ')})`);
}

const PATCHES_EXPECTED = `'all' or a whole number from 0 to ${MAX_NATIVE_PATCHES}`;

function patchValue(text: string): NativePatches | undefined {
  if (text === 'all') return 'all';
  return DECIMAL_WHOLE.test(text) && Number(text) <= MAX_NATIVE_PATCHES ? Number(text) : undefined;
}

/** `all`, `1024`, or per model: `koniq=1024,spaq=all`. */
export function parseNativePatches(text: string): NativePatches | Record<string, NativePatches> {
  if (text.includes('=')) return namedValues('native-patches', text, patchValue, PATCHES_EXPECTED);
  const value = patchValue(text.trim());
  if (value === undefined) throw new UsageError(`--native-patches: expected ${PATCHES_EXPECTED} or name=value,..., not '${text}'`);
  return value;
}

/** `koniq=0.3,spaq=0.25`: non-negative decimal weights, not all zero (the combined score would be 0/0). */
export function parseWeights(text: string): Record<string, number> {
  const weights = namedValues('weights', text, (v) => (/^(\d+\.?\d*|\.\d+)$/.test(v) ? Number(v) : undefined), 'a non-negative number');
  if (allWeightsZero(weights)) throw new UsageError('--weights: every weight is 0; give at least one model a weight above 0');
  return weights;
}
