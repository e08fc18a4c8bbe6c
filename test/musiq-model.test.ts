import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertNpz, readMusiqNpz, sidecarPath, type ModelSidecar } from '../ts/convert/convert.js';
import { musiqParamsFrom, CheckpointError } from '../ts/convert/musiq-params.js';
import { readNpz } from '../ts/convert/npz.js';
import { createScorer } from '../ts/runtime/scorer.js';
import { fixturePath, musiqManifest } from './helpers/fixtures.js';

const { tolerances } = musiqManifest;
let dir: string;
const models = new Map<string, { path: string; sidecar: ModelSidecar; session: ort.InferenceSession }>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'musiq-model-'));
  for (const ckpt of musiqManifest.checkpoints) {
    const path = join(dir, `${ckpt.name}.onnx`);
    const sidecar = await convertNpz(fixturePath(ckpt.file), path, { name: ckpt.name });
    models.set(ckpt.name, { path, sidecar, session: await ort.InferenceSession.create(path) });
  }
});

describe('converted fixture checkpoints', () => {
  it.each(musiqManifest.checkpoints.map((c) => [c.name, c] as const))('%s: sidecar records config and source', async (name, ckpt) => {
    const { sidecar, path } = models.get(name)!;
    const sha = createHash('sha256').update(await readFile(fixturePath(ckpt.file))).digest('hex');
    expect(sidecar.source.sha256).toBe(sha);
    expect(sidecar.config).toMatchObject({
      hiddenSize: ckpt.config.hidden_size,
      numLayers: ckpt.config.num_layers,
      numHeads: ckpt.config.num_heads,
      headDim: ckpt.config.head_dim,
      mlpDim: ckpt.config.mlp_dim,
      numClasses: ckpt.config.num_classes,
      numScales: ckpt.config.num_scales,
      spatialPosGridSize: ckpt.config.spatial_pos_grid_size,
    });
    expect(sidecar.scoreRange).toEqual(ckpt.config.num_classes === 10 ? [1, 10] : [0, 100]);
    expect(JSON.parse(await readFile(sidecarPath(path), 'utf8'))).toEqual(sidecar);
  });

  it.each(musiqManifest.cases.map((c) => [c.id, c] as const))('%s: logits and score from the expected tokens', async (_id, c) => {
    const patches = (await readNpz(fixturePath(c.patches_file))).get('patches')!;
    const { session } = models.get(c.checkpoint)!;
    const out = await session.run({ tokens: new ort.Tensor('float32', patches.data as Float32Array, [1, ...patches.shape]) });
    const logits = Array.from(out.logits!.data as Float32Array);
    expect(logits).toHaveLength(c.expected_logits.length);
    logits.forEach((v, i) => expect(Math.abs(v - c.expected_logits[i]!)).toBeLessThanOrEqual(tolerances.logits_abs));
    expect(Math.abs((out.score!.data as Float32Array)[0]! - c.expected_score)).toBeLessThanOrEqual(tolerances.score_abs);
  });

  it.each(musiqManifest.checkpoints.map((c) => [c.name] as const))('%s: end to end from the PNG files (decode, addon, padding dropped)', async (name) => {
    const scorer = await createScorer({ models: [models.get(name)!.path], device: 'cpu' });
    try {
      for (const c of musiqManifest.cases.filter((k) => k.checkpoint === name)) {
        const result = (await scorer.score(fixturePath(c.image_file))).scores[name]!;
        const image = musiqManifest.images.find((i) => i.name === c.image)!;
        expect(result.tokens).toBe(image.num_valid_tokens);
        expect(Math.abs(result.score - c.expected_score), c.id).toBeLessThanOrEqual(tolerances.score_abs);
        (result.logits ?? [result.score]).forEach((v, i) => expect(Math.abs(v - c.expected_logits[i]!), c.id).toBeLessThanOrEqual(tolerances.logits_abs));
      }
    } finally {
      await scorer.close();
    }
  });
});

describe('checkpoint validation', () => {
  const load = () => readMusiqNpz(fixturePath('ckpt_tiny_1class.npz'));

  it('lists every missing key and wrong shape', async () => {
    const params = await load();
    params.delete('Transformer/encoderblock_1/MlpBlock_3/Dense_1/bias');
    const head = params.get('head/bias')!;
    params.set('head/bias', { shape: [2], data: new Float32Array(2) });
    expect(head.shape).toEqual([1]);
    expect(() => musiqParamsFrom(params, 'x.npz')).toThrow(CheckpointError);
    expect(() => musiqParamsFrom(params, 'x.npz')).toThrow(/missing Transformer\/encoderblock_1\/MlpBlock_3\/Dense_1\/bias/);
    expect(() => musiqParamsFrom(params, 'x.npz')).toThrow(/head\/bias has shape \(2\), expected \(1\)/);
  });

  it('rejects non-finite weights', async () => {
    const params = await load();
    params.get('Transformer/cls')!.data[3] = NaN;
    expect(() => musiqParamsFrom(params, 'x.npz')).toThrow(/Transformer\/cls holds a non-finite value \(NaN\) at index 3/);
  });

  it('says plainly when a file is not a MUSIQ checkpoint', () => {
    expect(() => musiqParamsFrom(new Map(), 'other.npz')).toThrow(/other.npz is not a MUSIQ checkpoint: missing embedding\/kernel/);
  });
});
