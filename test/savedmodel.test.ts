// SavedModel reader, MUSIQ mapping, conversion and `inspect`: the fixture SavedModels written by TensorFlow
// against their manifest, and the MUSIQ model exported from JAX (musiq-tiny-jax2tf) converted and scored
// against TensorFlow's own outputs.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertFrom } from '../ts/convert/convert-from.js';
import { convertNpz, readMusiqNpz, sidecarPath, type ModelSidecar } from '../ts/convert/convert.js';
import { inspectArtifact } from '../ts/convert/inspect.js';
import { jax2tfLowering } from '../ts/convert/savedmodel/jax2tf.js';
import { mapMusiqVariables, musiqFlattenOrder, musiqPatchCap, readMusiqParams } from '../ts/convert/savedmodel/musiq-mapping.js';
import { readSavedModel, SavedModelError, type SavedModel, type SavedVariableInfo } from '../ts/convert/savedmodel/saved-model.js';
import { ModelProto } from '../ts/onnx/schema.js';
import { createScorer } from '../ts/runtime/scorer.js';
import { runCli } from './helpers/cli.js';
import { fixturePath, sharedFixture } from './helpers/fixtures.js';

const ROOT = sharedFixture('savedmodel');
const TINY = join(ROOT, 'musiq-tiny-jax2tf');
const REPO = join(import.meta.dirname, '..');

interface ManifestModel {
  name: string;
  saved_model: {
    saved_model_schema_version: number;
    tags: string[];
    tensorflow_version: string | null;
    tensorflow_git_version: string | null;
    stripped_default_attrs: boolean;
    signatures: Record<string, { inputs: object; outputs: object; method_name: string }>;
    asset_files: string[];
    graph: {
      node_count: number;
      op_histogram: Record<string, number>;
      versions: { producer: number; min_consumer: number };
      function_count: number;
      function_node_count: number;
      function_op_histogram: Record<string, number>;
    };
    object_graph: { num_nodes: number; kinds: Record<string, number>; num_concrete_functions: number; variables: object[] };
  };
}

interface TinyCase {
  id: string;
  format: 'png' | 'jpeg';
  image_file: string;
  num_valid_tokens: number;
  expected_score: number;
  accurate_idct_score?: number;
  score_without_1024_cap?: number;
}

const bytesOf = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

const manifest = JSON.parse(await readFile(join(ROOT, 'manifest.json'), 'utf8')) as { models: ManifestModel[] };
const tiny = JSON.parse(await readFile(join(TINY, 'manifest.json'), 'utf8')) as {
  source_checkpoint: { file: string };
  signature: { key: string; method_name: string; inputs: Record<string, { name: string; dtype: string; shape: number[] }>; outputs: Record<string, { name: string; dtype: string; shape: number[] }> };
  export: { xla_call_module: { attr_sets: Array<{ version: number; platforms: string[] }> }; stablehlo: { main_arguments: Array<[string, string]> } };
  variables: { list: Array<[number, string, number[]]> };
  saved_model_summary: {
    tags: string[];
    tensorflow_version: string;
    root_children: string[];
    object_graph_kinds: Record<string, number>;
    graph_node_count: number;
    graph_op_histogram: Record<string, number>;
    function_count: number;
    function_node_count: number;
    function_op_histogram: Record<string, number>;
  };
  files: Array<{ path: string; sha256: string }>;
  tolerances: { png_score_abs: number; jpeg_score_abs_same_decoder: number };
  cases: TinyCase[];
};

describe('fixture SavedModels written by TensorFlow', () => {
  it.each(manifest.models.map((m) => [m.name, m] as const))('%s: tags, signatures, op histograms and variables match the manifest', async (name, model) => {
    const { summary: s } = await readSavedModel(join(ROOT, name));
    const e = model.saved_model;
    expect(s.schemaVersion).toBe(e.saved_model_schema_version);
    expect({ tags: s.tags, tf: s.tensorflowVersion, git: s.tensorflowGitVersion, stripped: s.strippedDefaultAttrs }).toEqual({
      tags: e.tags,
      tf: e.tensorflow_version,
      git: e.tensorflow_git_version,
      stripped: e.stripped_default_attrs,
    });
    expect(Object.fromEntries(Object.entries(s.signatures).map(([k, v]) => [k, { inputs: v.inputs, outputs: v.outputs, method_name: v.methodName }]))).toEqual(e.signatures);
    expect(s.assetFiles).toEqual(e.asset_files);
    expect(s.graph).toEqual({ nodeCount: e.graph.node_count, opHistogram: e.graph.op_histogram, versions: { producer: e.graph.versions.producer, minConsumer: e.graph.versions.min_consumer } });
    expect(s.functions).toEqual({ count: e.graph.function_count, nodeCount: e.graph.function_node_count, opHistogram: e.graph.function_op_histogram });
    expect(s.objectGraph.numNodes).toBe(e.object_graph.num_nodes);
    expect(s.objectGraph.kinds).toEqual(e.object_graph.kinds);
    expect(s.objectGraph.numConcreteFunctions).toBe(e.object_graph.num_concrete_functions);
    expect(
      s.objectGraph.variables.map((v) => ({ node_id: v.nodeId, path: v.path, name: v.name, checkpoint_key: v.checkpointKey, dtype: v.dtype, shape: v.shape, trainable: v.trainable })),
    ).toEqual(e.object_graph.variables);
  });

  it.each(manifest.models.map((m) => [m.name, m] as const))('%s: inspect lists the signatures, verifies every tensor and recognises no MUSIQ', async (name, model) => {
    const report = await inspectArtifact(join(ROOT, name));
    if (report.kind !== 'savedmodel') throw new Error(report.kind);
    expect(Object.keys(report.summary.signatures)).toEqual(Object.keys(model.saved_model.signatures).sort());
    expect(report.checksumsVerified).toBe(report.tensors.length);
    expect(report.forwardPass.kind).toBe('none');
    expect(report.recognition).toMatchObject({ recognised: false, reason: expect.stringMatching(/no MUSIQ parameters found/) });
  });

  it('a truncated saved_model.pb is a clear error', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'musiq-sm-')), 'model');
    await cp(join(ROOT, 'real-keras-dense'), dir, { recursive: true });
    const pb = await readFile(join(dir, 'saved_model.pb'));
    await writeFile(join(dir, 'saved_model.pb'), pb.subarray(0, pb.length >> 1));
    await expect(readSavedModel(dir)).rejects.toThrow(/saved_model.pb: not a valid SavedModel protobuf/);
    await rm(join(dir, 'saved_model.pb'));
    await expect(readSavedModel(dir)).rejects.toThrow(/is not a SavedModel folder: cannot read saved_model.pb/);
  });
});

describe('musiq-tiny-jax2tf: a MUSIQ SavedModel exported from JAX', () => {
  let sm: SavedModel;
  beforeAll(async () => {
    sm = await readSavedModel(TINY);
  });

  it('summary, signature and XlaCallModule match the manifest', () => {
    const e = tiny.saved_model_summary;
    const s = sm.summary;
    expect({ tags: s.tags, tf: s.tensorflowVersion, kinds: s.objectGraph.kinds }).toEqual({ tags: e.tags, tf: e.tensorflow_version, kinds: e.object_graph_kinds });
    expect(s.graph.nodeCount).toBe(e.graph_node_count);
    expect(s.graph.opHistogram).toEqual(e.graph_op_histogram);
    expect(s.functions).toEqual({ count: e.function_count, nodeCount: e.function_node_count, opHistogram: e.function_op_histogram });
    expect(sm.metaGraph.object_graph_def!.nodes[0]!.children.map((c) => c.local_name)).toEqual(e.root_children);
    expect(s.signatures[tiny.signature.key]).toEqual({ inputs: tiny.signature.inputs, outputs: tiny.signature.outputs, methodName: tiny.signature.method_name });

    const lowering = jax2tfLowering(sm.metaGraph);
    expect(lowering.kind).toBe('native');
    expect(lowering.callModules).toHaveLength(1);
    const [call] = lowering.callModules;
    const attrs = tiny.export.xla_call_module.attr_sets[0]!;
    expect({ version: call!.version, platforms: call!.platforms, dataInputs: call!.dataInputs }).toEqual({ version: attrs.version, platforms: attrs.platforms, dataInputs: 57 });
    const argumentNames = tiny.export.stablehlo.main_arguments.slice(0, -1).map(([name]) => [...name.matchAll(/\['([^']+)'\]/g)].map((m) => m[1]).join('/'));
    expect(call!.parameterNames).toEqual(argumentNames);
  });

  it('maps variables/<i> by the flatten order, bytes equal to the .npz, cap 1024 from the graph', async () => {
    expect(musiqFlattenOrder(2)).toEqual(tiny.variables.list.map(([, path]) => path));
    const mapping = mapMusiqVariables(sm);
    expect(mapping.layout).toBe('variable-list');
    expect(mapping.confirmedByArgumentNames).toBe(true);
    expect([...mapping.variables].map(([path, v]) => [path, v.path])).toEqual(tiny.variables.list.map(([i, path]) => [path, `variables/${i}`]));
    for (const [i, path, shape] of tiny.variables.list) expect(mapping.variables.get(path)!.shape, `variables/${i}`).toEqual(shape);
    const { params, config } = await readMusiqParams(sm, mapping);
    expect(config).toMatchObject({ hiddenSize: 32, numLayers: 2, numHeads: 2, headDim: 16, mlpDim: 64, numClasses: 1, numScales: 3 });
    const npz = await readMusiqNpz(fixturePath('ckpt_tiny_1class.npz'));
    expect(npz.size).toBe(params.size);
    for (const [path, tensor] of npz) expect(bytesOf(params.get(path)!.data).equals(bytesOf(tensor.data)), path).toBe(true);
    expect(musiqPatchCap(sm, config.numScales)).toMatchObject({ nativePatches: 1024, foundInGraph: true });
  });

  /** The same SavedModel with its variables changed, to exercise other layouts without more fixtures. */
  const withVariables = (variables: SavedVariableInfo[], largeConstants = sm.summary.largeConstants): SavedModel => ({
    ...sm,
    summary: { ...sm.summary, largeConstants, objectGraph: { ...sm.summary.objectGraph, variables } },
  });

  it('maps variables named by parameter path to the same tensors', async () => {
    const order = musiqFlattenOrder(2);
    const named = sm.summary.objectGraph.variables.map((v) => ({ ...v, path: `model/params/${order[Number(v.path!.split('/')[1])]}` }));
    const mapping = mapMusiqVariables(withVariables(named));
    expect(mapping.layout).toBe('named-variables');
    const byName = await readMusiqParams(sm, mapping);
    const byOrder = await readMusiqParams(sm, mapMusiqVariables(sm));
    for (const path of order) expect(bytesOf(byName.params.get(path)!.data).equals(bytesOf(byOrder.params.get(path)!.data)), path).toBe(true);
  });

  it('stops with what was found and what was expected when the layout is anything else', async () => {
    const variables = sm.summary.objectGraph.variables;
    expect(() => mapMusiqVariables(withVariables(variables.slice(1)))).toThrow(SavedModelError);
    expect(() => mapMusiqVariables(withVariables(variables.filter((v) => v.path !== 'variables/7')))).toThrow(/no MUSIQ parameters found.*\n.*found 55 variables/);
    expect(() => mapMusiqVariables(withVariables([...variables, { ...variables[0]!, path: 'variables/56' }]))).toThrow(/'variables' \(57 variables\).*16·L \+ 24/);
    expect(() => mapMusiqVariables(withVariables([]))).toThrow(/parameters are stored as 3 graph constants.*\n.*found constants/);
    const partlyNamed = variables.map((v, i) => (i >= 3 && i < 6 ? { ...v, path: `params/${musiqFlattenOrder(2)[i]}` } : v));
    expect(() => mapMusiqVariables(withVariables(partlyNamed))).toThrow(/carry MUSIQ parameter names, but not one per parameter/);

    // variables/0 and variables/1 swapped: shapes catch it, and the error shows the mapping that was used.
    const swapped = variables.map((v) => (v.path === 'variables/0' ? { ...v, path: 'variables/1' } : v.path === 'variables/1' ? { ...v, path: 'variables/0' } : v));
    await expect(readMusiqParams(sm, mapMusiqVariables(withVariables(swapped)))).rejects.toThrow(
      /Transformer\/cls has shape \(32\), expected \(1,1,32\)[\s\S]*mapping used \(variables\/<i>[\s\S]*variables\/1\/.ATTRIBUTES\/VARIABLE_VALUE \[32\] → Transformer\/cls/,
    );
  });

  describe('conversion and scoring', () => {
    let dir: string;
    let model: string;
    let sidecar: ModelSidecar;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'musiq-savedmodel-'));
      model = join(dir, 'tiny.onnx');
      sidecar = await convertFrom(TINY, model, {});
    });

    it('records the source, the 1024-patch cap and a defined folder hash', async () => {
      expect(sidecar.preprocessing).toEqual({ longerSides: [224, 384], nativePatches: 1024, patchSize: 32, hashGridSize: 10 });
      const files = ['saved_model.pb', 'variables/variables.index', 'variables/variables.data-00000-of-00001'];
      const lines = files.map((f) => `${tiny.files.find((x) => x.path === f)!.sha256}  ${f}\n`).join('');
      expect(sidecar.source).toEqual({ kind: 'savedmodel', file: TINY, sha256: createHash('sha256').update(lines).digest('hex') });
      expect(JSON.parse(await readFile(sidecarPath(model), 'utf8'))).toEqual(sidecar);
    });

    it('gives the same ONNX graph as the .npz path', async () => {
      const fromNpz = join(dir, 'npz.onnx');
      await convertNpz(fixturePath('ckpt_tiny_1class.npz'), fromNpz);
      // The graph field alone, re-encoded: nodes and initializers byte for byte (the metadata names the source).
      const graph = async (path: string) => Buffer.from(ModelProto.encode({ graph: (ModelProto.decode(await readFile(path)) as unknown as { graph: object }).graph }).finish());
      const [a, b] = [await graph(model), await graph(fromNpz)];
      expect(a.length).toBeGreaterThan(2_000_000);
      expect(a.equals(b)).toBe(true);
    });

    it('scores every manifest case like TensorFlow (PNG: its output; JPEG: the accurate-IDCT score), with the tokens it reports', async () => {
      const scorer = await createScorer({ models: [model], device: 'cpu' });
      const diffs: string[] = [];
      try {
        let i = 0;
        for await (const record of scorer.scoreMany(tiny.cases.map((c) => join(TINY, c.image_file)))) {
          const c = tiny.cases[i++]!;
          if (record.error) throw record.error;
          const { score, tokens, nativePatches } = record.result.scores[sidecar.name]!;
          const expected = c.format === 'jpeg' ? c.accurate_idct_score! : c.expected_score;
          const tolerance = c.format === 'jpeg' ? tiny.tolerances.jpeg_score_abs_same_decoder : tiny.tolerances.png_score_abs;
          diffs.push(`${c.id} ${(score - expected).toExponential(2)}`);
          expect(Math.abs(score - expected), c.id).toBeLessThanOrEqual(tolerance);
          expect(tokens, c.id).toBe(c.num_valid_tokens);
          expect(nativePatches).toBe(1024);
          // The cap matters for this image: scoring all its patches would be far outside the tolerance.
          if (c.score_without_1024_cap !== undefined) expect(Math.abs(c.score_without_1024_cap - expected)).toBeGreaterThan(100 * tolerance);
        }
        expect(i).toBe(tiny.cases.length);
      } finally {
        await scorer.close();
      }
      console.log(`score - expected: ${diffs.join(', ')}`);
    });

    it('installs an already converted .onnx with its sidecar, or from the metadata copy', async () => {
      const copy = join(dir, 'copy.onnx');
      expect(await convertFrom(model, copy)).toEqual(sidecar);
      expect(Buffer.compare(await readFile(copy), await readFile(model))).toBe(0);
      await rm(sidecarPath(copy));
      const again = join(dir, 'again.onnx');
      expect(await convertFrom(copy, again)).toEqual(sidecar);
      expect(JSON.parse(await readFile(sidecarPath(again), 'utf8'))).toEqual(sidecar);
      expect(await convertFrom(model, join(dir, 'renamed.onnx'), { name: 'koniq' })).toEqual({ ...sidecar, name: 'koniq' });
    });

    it('inspect recognises the SavedModel, the .npz and the converted .onnx as the same MUSIQ model', async () => {
      const savedModel = await inspectArtifact(TINY);
      const npz = await inspectArtifact(fixturePath('ckpt_tiny_1class.npz'));
      const onnx = await inspectArtifact(model);
      for (const report of [savedModel, npz, onnx]) expect(report.recognition).toMatchObject({ recognised: true, model: 'musiq', config: sidecar.config });
      expect(savedModel.recognition).toMatchObject({ nativePatches: 1024 });
      expect(npz.recognition).toMatchObject({ nativePatches: 'all' });
      if (savedModel.kind !== 'savedmodel' || onnx.kind !== 'onnx' || npz.kind !== 'npz') throw new Error('wrong report kinds');
      expect(savedModel.tensors).toHaveLength(57);
      expect(savedModel.checksumsVerified).toBe(57);
      expect(savedModel.forwardPass.description).toMatch(/one XlaCallModule op .* rebuilds the known MUSIQ architecture from the variables/);
      expect(npz.tensors.find((t) => t.name === 'opt/target/embedding/kernel')).toEqual({ name: 'opt/target/embedding/kernel', dtype: '<f4', shape: [16384, 32] });
      expect(onnx.inputs.map((v) => v.name)).toEqual(['tokens']);
      expect(onnx.sidecarFrom).toBe('file');
    });
  });
});

describe('CLI', () => {
  it('convert --from <SavedModel folder> and inspect (text and --json)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'musiq-savedmodel-cli-'));
    const convert = await runCli(['convert', '--from', TINY, '--out', join(dir, 'tiny.onnx')]);
    expect(convert.code, convert.stderr).toBe(0);
    expect(convert.stderr).toMatch(/wrote .*tiny.onnx \(musiq-tiny-jax2tf: hidden 32, 2 layers/);

    const json = await runCli(['inspect', TINY, '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(json.lines[0]).toMatchObject({ kind: 'savedmodel', recognition: { recognised: true, nativePatches: 1024 } });

    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(REPO, 'ts/cli/main.ts'), 'inspect', TINY], { cwd: REPO });
    expect(stdout).toContain('serving_default (tensorflow/serving/predict)');
    expect(stdout).toContain('in  image_bytes_tensor: string [] (serving_default_image_bytes_tensor:0)');
    expect(stdout).toContain('variables/51/.ATTRIBUTES/VARIABLE_VALUE  float32 [16384, 32]');
    expect(stdout).toMatch(/ops in 4 functions \(848 nodes\): .*XlaCallModule 1/);
    expect(stdout).toMatch(/forward pass: one XlaCallModule op/);
    expect(stdout).toMatch(/recognised as: MUSIQ 'musiq-tiny-jax2tf'.*capped at 1024/);
  });
});
