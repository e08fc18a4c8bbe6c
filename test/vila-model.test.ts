// VILA-R image branch converted from the fixture .npz: the network alone (fed the expected preprocessed tensor)
// and end to end from the PNG files, against the independent numpy reference.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertFrom } from '../ts/convert/convert-from.js';
import { sidecarPath, type ModelSidecar } from '../ts/convert/convert.js';
import { CheckpointError } from '../ts/convert/musiq-params.js';
import { readVilaNpz } from '../ts/convert/vila-convert.js';
import { vilaParamsFrom } from '../ts/convert/vila-params.js';
import { createScorer } from '../ts/runtime/scorer.js';
import { maxAbsDiff, readNpyFloats, vilaManifest, vilaPath } from './helpers/vila-fixtures.js';

const { tolerances, config } = vilaManifest;
const S = config.image_size!;
let model: string;
let sidecar: ModelSidecar;
let session: ort.InferenceSession;

beforeAll(async () => {
  model = join(await mkdtemp(join(tmpdir(), 'musiq-vila-')), 'vila_tiny.onnx');
  sidecar = await convertFrom(vilaPath(vilaManifest.params.file), model, { name: 'vila' });
  session = await ort.InferenceSession.create(model);
});

describe('VILA conversion from the Pax-layout .npz', () => {
  it('infers the configuration from the shapes and records it in the sidecar', async () => {
    expect(sidecar).toMatchObject({
      architecture: 'vila',
      name: 'vila',
      scoreRange: [0, 1],
      scoreRule: 'cosine',
      preprocessing: { resize: Math.round((S * 272) / 224), crop: S },
      source: { kind: 'npz', sha256: vilaManifest.params.sha256 },
    });
    expect(sidecar.config).toEqual({
      imageSize: S,
      patchSize: config.patch_size,
      modelDims: config.model_dims,
      numLayers: config.num_layers,
      numHeads: config.num_heads,
      headDim: config.vit_head_dim,
      mlpDims: config.mlp_dims,
      poolerHeads: config.pooler_num_heads,
      poolerHeadDim: config.pooler_head_dim,
      generativeQueries: config.generative_queries,
      numClasses: 1,
    });
    const sha = createHash('sha256').update(await readFile(vilaPath(vilaManifest.params.file))).digest('hex');
    expect(sha).toBe(vilaManifest.params.sha256);
    expect(JSON.parse(await readFile(sidecarPath(model), 'utf8'))).toEqual(sidecar);
    expect(session.inputNames).toEqual(['pixels']);
    expect(session.outputNames).toEqual(['embedding', 'score']);
  });

  it('rejects a tree with wrong shapes or no prompt embedding, naming each problem', async () => {
    const tree = (await readVilaNpz(vilaPath(vilaManifest.params.file)))!;
    const params = new Map(tree.params);
    const key = 'encoder/transformers_stack/x_layers_1/self_attention/key/w';
    params.set(key, { shape: [1, 2, 3], data: new Float32Array(6) });
    params.delete('residual_ffn/bias/b');
    const run = () => vilaParamsFrom(params, undefined, 'bad.npz');
    expect(run).toThrow(CheckpointError);
    expect(run).toThrow(new RegExp(`${key} has shape \\(1,2,3\\), expected \\(${config.model_dims},${config.num_heads},${config.vit_head_dim}\\)`));
    expect(run).toThrow(/missing residual_ffn\/bias\/b/);
    expect(run).toThrow(/missing the prompt embedding text_embedding\/good_image/);
    const scaled = { ...tree.textEmbedding!, data: tree.textEmbedding!.data.map((v) => v * 2) };
    expect(() => vilaParamsFrom(tree.params, scaled, 'x.npz')).toThrow(/L2 norm (1\.99\d*|2), expected a unit vector/);
  });

  it.each(vilaManifest.cases.map((c) => [c.name, c] as const))('%s: embedding and score from the expected preprocessed tensor', async (name, c) => {
    const pixels = await readNpyFloats(c.preprocessed);
    const expected = await readNpyFloats(c.embedding);
    const out = await session.run({ pixels: new ort.Tensor('float32', pixels.data, [1, S, S, 3]) });
    const embedding = maxAbsDiff(out.embedding!.data as Float32Array, expected.data);
    const score = Math.abs((out.score!.data as Float32Array)[0]! - c.score);
    console.log(`${name}: max |embedding diff| ${embedding.toExponential(2)}, |score diff| ${score.toExponential(2)}`);
    expect(embedding).toBeLessThanOrEqual(tolerances.embedding);
    expect(score).toBeLessThanOrEqual(tolerances.score);
  });

  it('batches: all cases in one run give the single-image outputs', async () => {
    const inputs = await Promise.all(vilaManifest.cases.map((c) => readNpyFloats(c.preprocessed)));
    const data = new Float32Array(inputs.length * S * S * 3);
    inputs.forEach((x, i) => data.set(x.data, i * S * S * 3));
    const out = await session.run({ pixels: new ort.Tensor('float32', data, [inputs.length, S, S, 3]) });
    vilaManifest.cases.forEach((c, i) => expect(Math.abs((out.score!.data as Float32Array)[i]! - c.score), c.name).toBeLessThanOrEqual(tolerances.score));
  });

  it('scores end to end from the PNG files (decode, native preprocessing, ONNX)', async () => {
    const scorer = await createScorer({ models: [model], device: 'cpu' });
    try {
      for (const c of vilaManifest.cases) {
        const got = (await scorer.score(vilaPath(c.image))).scores.vila!;
        expect(Math.abs(got.score - c.score), c.name).toBeLessThanOrEqual(tolerances.score);
        // The cosine itself is the score; the normalised score clips it to 0..1 (negative fixture scores give 0).
        expect(got.normalized).toBe(c.score < 0 ? 0 : got.score);
        expect(got.tokens).toBe(config.num_patches);
      }
    } finally {
      await scorer.close();
    }
  });
});
