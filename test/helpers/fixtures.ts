// Paths and manifest of the shared MUSIQ fixtures (read-only; tests write only to temporary folders).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedFixture } from './shared-fixtures.js';

export { SHARED_FIXTURES, sharedFixture } from './shared-fixtures.js';

export const MUSIQ_FIXTURES = sharedFixture('musiq');

export interface FixtureCase {
  id: string;
  image: string;
  image_file: string;
  checkpoint: string;
  checkpoint_file: string;
  patches_file: string;
  expected_logits: number[];
  expected_score: number;
}

export interface FixtureManifest {
  tolerances: { patches_abs: number; logits_abs: number; score_abs: number };
  checkpoints: Array<{ name: string; file: string; config: Record<string, number>; ignored_keys: string[] }>;
  images: Array<{ name: string; file: string; height: number; width: number; patches_file: string; patches_shape: number[]; num_valid_tokens: number; layout: unknown[] }>;
  cases: FixtureCase[];
}

export const musiqManifest = JSON.parse(readFileSync(join(MUSIQ_FIXTURES, 'manifest.json'), 'utf8')) as FixtureManifest;
export const fixturePath = (relative: string): string => join(MUSIQ_FIXTURES, relative);
