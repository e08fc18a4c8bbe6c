// The scoring engine: batching with masks, every model in one pass, one decode per image, record order.
import { copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertNpz } from '../ts/convert/convert.js';
import { fitsBatch, padBatch } from '../ts/runtime/batching.js';
import { combineScores, normalizeScore } from '../ts/runtime/combine.js';
import { createScorer, type ImageScore, type Scorer } from '../ts/runtime/scorer.js';
import { fixturePath, musiqManifest } from './helpers/fixtures.js';
import { sandboxEnv } from './helpers/sandbox.js';

let one: string;
let ten: string;
// Mixed sizes: 1×1 up to 512×512, thin and wide.
const photos = musiqManifest.images.map((i) => fixturePath(i.file));

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'musiq-scorer-'));
  one = join(dir, 'tiny_1class.onnx');
  ten = join(dir, 'tiny_10class.onnx');
  await convertNpz(fixturePath('ckpt_tiny_1class.npz'), one, { name: 'tiny_1class' });
  await convertNpz(fixturePath('ckpt_tiny_10class.npz'), ten, { name: 'tiny_10class' });
});

async function scoreAll(scorer: Scorer, inputs: string[]): Promise<ImageScore[]> {
  const out: ImageScore[] = [];
  for await (const record of scorer.scoreMany(inputs)) {
    expect(record.error).toBeUndefined();
    out.push(record.result!);
  }
  return out;
}

describe('batching', () => {
  let batched: Scorer;
  let single: Scorer;
  beforeAll(async () => {
    batched = await createScorer({ models: [one, ten], device: 'cpu', batch: { tokenBudget: 1 << 20, maxImages: 64 } });
    single = await createScorer({ models: [one, ten], device: 'cpu', batch: { maxImages: 1 } });
  });
  afterAll(async () => {
    await batched.close();
    await single.close();
  });

  it('padded batches give the one-at-a-time scores within 1e-5', async () => {
    const a = await scoreAll(batched, photos);
    const b = await scoreAll(single, photos);
    expect(batched.stats.batches).toBeLessThan(photos.length);
    expect(single.stats.batches).toBe(photos.length);
    for (const [i, result] of a.entries()) {
      for (const name of ['tiny_1class', 'tiny_10class']) {
        expect(Math.abs(result.scores[name]!.score - b[i]!.scores[name]!.score)).toBeLessThanOrEqual(1e-5);
      }
    }
  });

  it('every model gets its fixture score in one pass, with one decode and one preprocessing per image', async () => {
    const before = { ...batched.stats, preprocessed: { ...batched.stats.preprocessed } };
    const results = await scoreAll(batched, photos);
    expect(batched.stats.decoded - before.decoded).toBe(photos.length);
    const passes = Object.entries(batched.stats.preprocessed);
    expect(passes).toHaveLength(1); // both checkpoints share MUSIQ's preprocessing
    expect(passes[0]![1] - (Object.values(before.preprocessed)[0] ?? 0)).toBe(photos.length);
    for (const [i, image] of musiqManifest.images.entries()) {
      for (const c of musiqManifest.cases.filter((k) => k.image === image.name)) {
        const got = results[i]!.scores[c.checkpoint]!;
        expect(Math.abs(got.score - c.expected_score), c.id).toBeLessThanOrEqual(musiqManifest.tolerances.score_abs);
        expect(got.tokens).toBe(image.num_valid_tokens);
      }
      expect(Object.keys(results[i]!.scores)).toEqual(['tiny_1class', 'tiny_10class']);
      expect(results[i]!.combined).toBeDefined();
    }
  });

  it('keeps input order and reports a bad input in its place', async () => {
    const inputs = [photos[0]!, Buffer.from('not an image'), photos[1]!];
    const records = [];
    for await (const record of batched.scoreMany(inputs)) records.push(record);
    expect(records.map((r) => r.input)).toEqual(inputs);
    expect(records[1]!.error?.message).toMatch(/cannot decode image/);
    expect(records[0]!.result && records[2]!.result).toBeTruthy();
  });

  it('honours an AbortSignal', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    const run = async () => {
      for await (const _ of batched.scoreMany(photos, { signal: controller.signal })) void _;
    };
    await expect(run()).rejects.toThrow('stop');
  });
});

describe('library option checks', () => {
  it.each([
    ['negative weights', { weights: { tiny_1class: -1, tiny_10class: 2 } }, /weights must be finite numbers ≥ 0/],
    ['all-zero weights', { weights: { tiny_1class: 0 } }, /every weight is 0/],
    ['a weight for a model not run', { weights: { nope: 1 } }, /weights names 'nope', not among the models \(tiny_1class, tiny_10class\)/],
    ['a cap for a model not run', { nativePatches: { bogus: 'all' as const } }, /nativePatches names 'bogus'/],
    ['a fractional cap', { nativePatches: 10.5 }, /nativePatches must be a whole number from 0 to 1000000/],
    ['threads 0', { threads: 0 }, /threads must be a whole number from 1 to/],
    ['threads 1.5', { threads: 1.5 }, /threads must be a whole number from 1 to/],
    ['an empty batch', { batch: { maxImages: 0 } }, /batch.maxImages must be a whole number from 1/],
  ])('refuses %s, naming the option', async (_what, extra, message) => {
    await expect(createScorer({ models: [one, ten], device: 'cpu', ...extra })).rejects.toThrow(message);
  });
});

describe('stopping', () => {
  it('an abort or a close() in the middle of scoreMany stops it at the next record', async () => {
    for (const stop of ['abort', 'close'] as const) {
      const scorer = await createScorer({ models: [one], device: 'cpu', batch: { tokenBudget: 1 << 20, maxImages: 64 } });
      const controller = new AbortController();
      let seen = 0;
      const run = async () => {
        for await (const _ of scorer.scoreMany(photos, { signal: controller.signal })) {
          void _;
          if (++seen === 2) {
            if (stop === 'abort') controller.abort(new Error('stop here'));
            else void scorer.close();
          }
        }
      };
      await expect(run()).rejects.toThrow(stop === 'abort' ? 'stop here' : /this scorer is closed/);
      expect(seen).toBe(2); // the rest of the batch in hand is not handed out
      await scorer.close();
    }
  });
});

describe('a registry name', () => {
  it("is resolved through the sources chain, whose messages reach the scorer's log", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'musiq-scorer-sources-'));
    await mkdir(join(dir, 'checkpoints'));
    await copyFile(fixturePath('ckpt_tiny_1class.npz'), join(dir, 'checkpoints', 'koniq_ckpt.npz'));
    const lines: string[] = [];
    const scorer = await createScorer({
      models: ['koniq'],
      device: 'cpu',
      sources: { env: sandboxEnv(dir), offline: true, checkpointsDir: join(dir, 'checkpoints') },
      log: (line) => lines.push(line),
    });
    await scorer.close();
    expect(lines).toContainEqual(expect.stringMatching(/^✓ koniq loaded from local files/));
  });
});

describe('a closed scorer', () => {
  it('refuses further work with a message that says what to do', async () => {
    const scorer = await createScorer({ models: [one], device: 'cpu' });
    expect((await scorer.score(photos[0]!)).scores.tiny_1class).toBeDefined();
    await scorer.close();
    await expect(scorer.score(photos[0]!)).rejects.toThrow(/this scorer is closed: create another with createScorer\(\)/);
  });
});

describe('batch rules', () => {
  it('closes a batch when the padded cost would pass the budget', () => {
    const limits = { tokenBudget: 1000, maxImages: 8 };
    expect(fitsBatch([], 5000, limits)).toBe(true); // an image alone always gets a batch
    expect(fitsBatch([200, 200], 300, limits)).toBe(true); // 3 × 300 = 900
    expect(fitsBatch([200, 200], 400, limits)).toBe(false); // 3 × 400 = 1200
    expect(fitsBatch([10, 10, 10, 10, 10, 10, 10, 10], 10, limits)).toBe(false);
  });

  it('pads shorter sequences with zero rows', () => {
    const a = { data: new Float32Array(3075).fill(1), shape: [1, 3075] };
    const b = { data: new Float32Array(2 * 3075).fill(2), shape: [2, 3075] };
    const { data: tokens, dims } = padBatch([a, b]);
    expect(dims).toEqual([2, 2, 3075]);
    expect(tokens[0]).toBe(1);
    expect(tokens.subarray(3075, 2 * 3075).every((v) => v === 0)).toBe(true);
    expect(tokens[2 * 3075]).toBe(2);
  });
});

describe('combined score', () => {
  it('normalises by range, clipping, and renormalises the weights over the models run', () => {
    expect(normalizeScore(75, [0, 100])).toBe(0.75);
    expect(normalizeScore(5.5, [1, 10])).toBe(0.5);
    expect(normalizeScore(104, [0, 100])).toBe(1);
    // KonIQ 0.30 and AVA 0.10 renormalised to 0.75 / 0.25: 0.75·0.8 + 0.25·0.4 = 0.7
    const c = combineScores({ koniq: 0.8, ava: 0.4 });
    expect(c.weighted).toBeCloseTo(0.7, 12);
    expect(c.median).toBeCloseTo(0.6, 12);
    expect(combineScores({ a: 0.2, b: 0.4, c: 0.9 }).weighted).toBeCloseTo(0.5, 12); // no weights: equal
    expect(combineScores({ a: 0.2, b: 0.4, c: 0.9 }).median).toBe(0.4);
  });
});
