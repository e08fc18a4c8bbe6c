// VILA alongside MUSIQ in one run: every image decoded once, each model's preprocessing run once per image, both
// scores per image; through the API (scorer stats) and through `musiq-native score --model musiq.onnx,vila.onnx`.
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertFrom } from '../ts/convert/convert-from.js';
import { createScorer, type ImageScore } from '../ts/runtime/scorer.js';
import { runCli } from './helpers/cli.js';
import { fixturePath, musiqManifest } from './helpers/fixtures.js';
import { vilaManifest, vilaPath } from './helpers/vila-fixtures.js';

const MUSIQ = 'tiny_1class';
const S = vilaManifest.config.image_size!;
// The preprocessing keys: MUSIQ's scales and patch cap; VILA's squash side (the 272/224 recipe scaled) and crop.
const MUSIQ_KEY = 'musiq:224,384:all';
const VILA_KEY = `vila:${Math.round((S * 272) / 224)}:${S}`;
const vilaPhotos = vilaManifest.cases.map((c) => ({ path: vilaPath(c.image), vila: c.score }));
const musiqPhotos = musiqManifest.cases.filter((c) => c.checkpoint === MUSIQ).map((c) => ({ path: fixturePath(c.image_file), musiq: c.expected_score }));
const photos: Array<{ path: string; vila?: number; musiq?: number }> = [...vilaPhotos, ...musiqPhotos];
let musiqModel: string;
let vilaModel: string;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'musiq-vila-scoring-'));
  musiqModel = join(dir, `${MUSIQ}.onnx`);
  vilaModel = join(dir, 'vila.onnx');
  await convertFrom(fixturePath('ckpt_tiny_1class.npz'), musiqModel, { name: MUSIQ });
  await convertFrom(vilaPath(vilaManifest.params.file), vilaModel, { name: 'vila' });
});

function checkScores(image: (typeof photos)[number], scores: ImageScore['scores']): void {
  expect(Object.keys(scores)).toEqual([MUSIQ, 'vila']);
  if (image.vila !== undefined) expect(Math.abs(scores.vila!.score - image.vila), image.path).toBeLessThanOrEqual(vilaManifest.tolerances.score);
  if (image.musiq !== undefined) expect(Math.abs(scores[MUSIQ]!.score - image.musiq), image.path).toBeLessThanOrEqual(musiqManifest.tolerances.score_abs);
  expect(scores.vila!.normalized).toBe(Math.min(1, Math.max(0, scores.vila!.score)));
}

describe('MUSIQ and VILA in one pass', () => {
  it('decodes each image once, runs each preprocessing once per image, and gives both fixture scores', async () => {
    const scorer = await createScorer({ models: [musiqModel, vilaModel], device: 'cpu' });
    try {
      let i = 0;
      for await (const record of scorer.scoreMany(photos.map((p) => p.path))) {
        if (record.error) throw record.error;
        checkScores(photos[i++]!, record.result.scores);
        expect(record.result.combined).toBeDefined();
      }
      expect(i).toBe(photos.length);
      expect(scorer.stats.decoded).toBe(photos.length);
      const passes = scorer.stats.preprocessed;
      expect(Object.keys(passes).sort()).toEqual([MUSIQ_KEY, VILA_KEY].sort());
      expect(Object.values(passes)).toEqual([photos.length, photos.length]);
    } finally {
      await scorer.close();
    }
  });

  it('`score --model <musiq.onnx>,<vila.onnx> --stats` prints both scores per image and one decode per image', async () => {
    const run = await runCli(['score', ...photos.map((p) => p.path), '--model', `${musiqModel},${vilaModel}`, '--device', 'cpu', '--stats']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines).toHaveLength(photos.length);
    for (const line of run.lines) checkScores(photos.find((p) => p.path === line.path)!, line.scores as ImageScore['scores']);
    expect(run.stderr).toContain(`${photos.length} decodes; preprocessing passes: ${MUSIQ_KEY} ${photos.length}, ${VILA_KEY} ${photos.length}`);
  });
});

describe('--model vila by name', () => {
  it('offline, from a vila_params.npz in the checkpoints folder: converted once through the sources chain, then scored', async () => {
    const root = await mkdtemp(join(tmpdir(), 'musiq-vila-name-'));
    const checkpoints = join(root, 'checkpoints');
    await mkdir(checkpoints);
    await copyFile(vilaPath(vilaManifest.params.file), join(checkpoints, 'vila_params.npz'));
    const photo = vilaManifest.cases[0]!;
    await writeFile(join(root, 'sources.json'), '{}'); // no user config leaks in
    const env = { MUSIQ_NATIVE_CACHE: join(root, 'cache'), MUSIQ_NATIVE_CONFIG: join(root, 'sources.json') };
    const run = await runCli(['score', vilaPath(photo.image), '--model', 'vila', '--offline', '--checkpoints-dir', checkpoints, '--device', 'cpu'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines[0]).toMatchObject({ model: 'vila' });
    expect(Math.abs((run.lines[0]!.score as number) - photo.score)).toBeLessThanOrEqual(vilaManifest.tolerances.score);
  });
});
