// VILA-R from a SavedModel: parameters from variables (named, or a jax2tf `variables/<i>` list in flatten order)
// and the prompt embedding from a graph constant; a prompt folded into an XlaCallModule's StableHLO stops with
// a message naming the sources that work. The SavedModels are musiq-tiny-jax2tf (a real jax2tf export with one
// XlaCallModule op) with its variables replaced by the VILA fixture's tensors, as in savedmodel.test.ts.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import protobuf from 'protobufjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { recogniseSavedModel } from '../ts/convert/inspect.js';
import type { NpyArray } from '../ts/convert/npy.js';
import { readNpz } from '../ts/convert/npz.js';
import { readSavedModel, SavedModelError, type SavedModel, type SavedVariableInfo } from '../ts/convert/savedmodel/saved-model.js';
import type { NodeDef } from '../ts/convert/savedmodel/schema.js';
import type { TensorBundle } from '../ts/convert/tensorbundle/bundle.js';
import { writeVilaModel } from '../ts/convert/vila-convert.js';
import { looksLikeVila, readVilaSavedModel, vilaFlattenOrder } from '../ts/convert/vila-savedmodel.js';
import { runCli } from './helpers/cli.js';
import { readNpyFloats, vilaManifest, vilaPath } from './helpers/vila-fixtures.js';
import { sharedFixture } from './helpers/fixtures.js';

const TINY = sharedFixture('savedmodel/musiq-tiny-jax2tf');
const { config, params: paramsInfo, tolerances } = vilaManifest;
const order = vilaFlattenOrder(config.num_layers!);
let sm: SavedModel;
let arrays: Map<string, NpyArray>;

beforeAll(async () => {
  sm = await readSavedModel(TINY);
  arrays = await readNpz(vilaPath(paramsInfo.file));
});

/** The jax2tf SavedModel with the VILA tensors as its variables, at `pathOf(parameter, index)`. */
function vilaSavedModel(pathOf: (path: string, i: number) => string, prompt: boolean): SavedModel {
  const values = new Map<string, NpyArray>();
  const variables: SavedVariableInfo[] = order.map((param, i) => {
    const path = pathOf(param, i);
    const array = arrays.get(`${paramsInfo.key_prefix}${param}`)!;
    values.set(`${path}/.ATTRIBUTES/VARIABLE_VALUE`, array);
    return { nodeId: i + 1, path, name: 'Variable', checkpointKey: `${path}/.ATTRIBUTES/VARIABLE_VALUE`, dtype: 'float32', shape: array.shape, trainable: true };
  });
  const bundle = { readArray: async (key: string) => values.get(key)! } as unknown as TensorBundle;
  let metaGraph = sm.metaGraph;
  if (prompt) {
    const text = arrays.get(paramsInfo.text_embedding_key)!.data as Float32Array;
    const tensor = {
      dtype: 1,
      tensor_shape: { dim: [{ size: text.length, name: '' }], unknown_rank: false },
      tensor_content: new Uint8Array(text.buffer.slice(text.byteOffset, text.byteOffset + text.byteLength)),
      float_val: [], double_val: [], int_val: [], string_val: [], int64_val: [], bool_val: [], half_val: [],
    };
    const node = { name: 'prompt_embedding', op: 'Const', input: [], attr: { value: { tensor } } } as unknown as NodeDef;
    metaGraph = { ...sm.metaGraph, graph_def: { ...sm.metaGraph.graph_def!, node: [...sm.metaGraph.graph_def!.node, node] } };
  }
  return { ...sm, metaGraph, bundle, summary: { ...sm.summary, objectGraph: { ...sm.summary.objectGraph, variables } } };
}

async function scoreCase(model: string): Promise<number[]> {
  const session = await ort.InferenceSession.create(model);
  const scores: number[] = [];
  for (const c of vilaManifest.cases) {
    const pixels = await readNpyFloats(c.preprocessed);
    const out = await session.run({ pixels: new ort.Tensor('float32', pixels.data, [1, ...pixels.shape]) });
    scores.push((out.score!.data as Float32Array)[0]!);
  }
  return scores;
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** What convert and inspect must say when the prompt is inside the StableHLO. */
const xlaMessage = (): RegExp =>
  new RegExp(
    escape(`looks like VILA-R, but its prompt embedding ("good image", a unit ${config.model_dims}-vector) is not a graph constant: `) +
      escape('the forward pass is one XlaCallModule op (jax2tf native serialisation), whose StableHLO and its constants musiq-native does not read. ') +
      escape('To get the model, convert the VILA parameters instead (`musiq-native convert --from vila_params.npz --out vila.onnx`') +
      '[^]*' +
      escape('or install an already converted model (`musiq-native convert --from vila.onnx'),
  );

describe('VILA-R from a SavedModel', () => {
  it('the MUSIQ export is not taken for VILA', () => {
    expect(looksLikeVila(sm)).toBe(false);
  });

  it.each([
    ['variables named by parameter path', (path: string) => `model/params/${path}`],
    ['a variables/<i> list in jax2tf flatten order', (_: string, i: number) => `variables/${i}`],
  ] as const)('%s + the prompt as a graph constant: converts and scores like the fixture', async (_label, pathOf) => {
    const vila = vilaSavedModel(pathOf, true);
    expect(looksLikeVila(vila)).toBe(true);
    const tree = await readVilaSavedModel(vila);
    expect([...tree.params.keys()].sort()).toEqual([...order].sort());
    const out = join(await mkdtemp(join(tmpdir(), 'musiq-vila-sm-')), 'vila.onnx');
    await writeVilaModel(tree, out, { name: 'vila', source: { kind: 'savedmodel', file: TINY, sha256: '' } });
    const scores = await scoreCase(out);
    vilaManifest.cases.forEach((c, i) => expect(Math.abs(scores[i]! - c.score), c.name).toBeLessThanOrEqual(tolerances.score));
    expect(await recogniseSavedModel(vila)).toMatchObject({ recognised: true, model: 'vila', config: { modelDims: config.model_dims, numLayers: config.num_layers } });
  });

  it('a prompt folded into the XlaCallModule: convert and inspect say so and name the .npz / .onnx alternatives', async () => {
    const vila = vilaSavedModel((path) => `params/${path}`, false);
    const message = xlaMessage();
    await expect(readVilaSavedModel(vila)).rejects.toThrow(SavedModelError);
    await expect(readVilaSavedModel(vila)).rejects.toThrow(message);
    const recognition = await recogniseSavedModel(vila);
    expect(recognition.recognised).toBe(false);
    expect(!recognition.recognised && recognition.reason).toMatch(message);
  });
});

describe('CLI on a SavedModel folder whose VILA prompt is inside the XlaCallModule', () => {
  it('convert fails with the message and inspect reports it, without a crash', async () => {
    // saved_model.pb of musiq-tiny-jax2tf re-encoded with the VILA variables added to its object graph (no
    // variables/ folder: the message comes before any tensor is read).
    const root = protobuf.parse(await readFile(join(import.meta.dirname, '../proto/savedmodel.proto'), 'utf8'), { keepCase: true }).root;
    const type = root.lookupType('tensorflow.SavedModel');
    const proto = type.toObject(type.decode(await readFile(join(TINY, 'saved_model.pb'))), { arrays: true, objects: true }) as {
      meta_graphs: Array<{ object_graph_def: { nodes: Array<Record<string, unknown> & { children: Array<{ node_id: number; local_name: string }> }> } }>;
    };
    const nodes = proto.meta_graphs[0]!.object_graph_def.nodes;
    for (const path of order) {
      const shape = arrays.get(`${paramsInfo.key_prefix}${path}`)!.shape;
      nodes[0]!.children.push({ node_id: nodes.length, local_name: `params/${path}` });
      nodes.push({ children: [], variable: { dtype: 1, shape: { dim: shape.map((size) => ({ size })) }, trainable: true, name: 'Variable' } });
    }
    const dir = join(await mkdtemp(join(tmpdir(), 'musiq-vila-xla-')), 'vila-xla');
    await mkdir(dir);
    await writeFile(join(dir, 'saved_model.pb'), type.encode(type.fromObject(proto)).finish());

    const convert = await runCli(['convert', '--from', dir, '--out', join(dir, '..', 'vila.onnx')]);
    expect(convert.code).toBe(2);
    expect(convert.stderr.replace(/\s+/g, ' ')).toMatch(xlaMessage());
    const inspect = await runCli(['inspect', dir, '--json']);
    // Read, but not a model musiq-native converts: exit 1.
    expect(inspect.code, inspect.stderr).toBe(1);
    expect(inspect.lines[0]).toMatchObject({ kind: 'savedmodel', forwardPass: { kind: 'native' }, recognition: { recognised: false } });
    expect((inspect.lines[0]!.recognition as { reason: string }).reason).toMatch(xlaMessage());
  });
});
