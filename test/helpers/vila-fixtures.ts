// Paths and manifest of the shared VILA fixtures (read-only; tests write only to temporary folders).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseNpy } from '../../ts/convert/npy.js';
import { sharedFixture } from './fixtures.js';

export const VILA_FIXTURES = sharedFixture('vila');

export interface VilaCase {
  name: string;
  image: string;
  height: number;
  width: number;
  preprocessed: string;
  preprocessed_224: string;
  embedding: string;
  intermediates: string;
  score: number;
}

export interface VilaManifest {
  params: { file: string; sha256: string; key_prefix: string; text_embedding_key: string; unused_keys: string[] };
  config: Record<string, number>;
  tolerances: { preprocessed: number; preprocessed_224: number; embedding: number; score: number; intermediates: Record<string, number> };
  cases: VilaCase[];
}

export const vilaManifest = JSON.parse(readFileSync(join(VILA_FIXTURES, 'manifest.json'), 'utf8')) as VilaManifest;
export const vilaPath = (relative: string): string => join(VILA_FIXTURES, relative);

export async function readNpyFloats(relative: string): Promise<{ data: Float32Array; shape: number[] }> {
  const array = parseNpy(new Uint8Array(await readFile(vilaPath(relative))));
  if (!(array.data instanceof Float32Array)) throw new Error(`${relative}: expected float32, got ${array.dtype}`);
  return { data: array.data, shape: array.shape };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
