// `musiq-native inspect`: what a SavedModel folder, an .npz checkpoint or an .onnx model holds, and what
// musiq-native recognises it as (MUSIQ or VILA-R). Reading is complete (every SavedModel tensor's checksum is verified), so a
// report that says "recognised" means the artifact would convert.
import { artifactKind } from './convert-from.js';
import { modelNameFromFile, readMusiqNpz } from './convert.js';
import { CheckpointError, musiqParamsFrom, type MusiqConfig } from './musiq-params.js';
import { readNpz } from './npz.js';
import { readOnnxModel, type OnnxModelInfo } from './onnx-model.js';
import { jax2tfLowering, type Jax2tfLowering } from './savedmodel/jax2tf.js';
import { modelNameFromFolder } from './savedmodel/convert.js';
import { mapMusiqVariables, musiqPatchCap, readMusiqParams } from './savedmodel/musiq-mapping.js';
import { readSavedModel, SavedModelError, type SavedModel, type SavedModelSummary } from './savedmodel/saved-model.js';
import { readVilaNpz } from './vila-convert.js';
import { VILA_TEXT_EMBEDDING_KEY, vilaParamsFrom, type VilaConfig } from './vila-params.js';
import { looksLikeVila, readVilaSavedModel } from './vila-savedmodel.js';

export interface TensorListing {
  name: string;
  dtype: string;
  shape: number[] | null;
}

export type Recognition =
  | { recognised: true; model: 'musiq'; name: string; config: MusiqConfig; nativePatches: 'all' | number; notes: string[] }
  | { recognised: true; model: 'vila'; name: string; config: VilaConfig; notes: string[] }
  | { recognised: false; reason: string };

export interface ForwardPass {
  kind: Jax2tfLowering['kind'];
  description: string;
  callModules: Array<Omit<Jax2tfLowering['callModules'][number], 'parameterNames'> & { parameterNames: number }>;
  xlaOps: Record<string, number>;
}

export type InspectReport =
  | {
      kind: 'savedmodel';
      path: string;
      summary: SavedModelSummary;
      tensors: TensorListing[];
      checksumsVerified: number;
      forwardPass: ForwardPass;
      recognition: Recognition;
    }
  | { kind: 'npz'; path: string; tensors: TensorListing[]; recognition: Recognition }
  | ({ kind: 'onnx'; path: string; metadataKeys: string[]; recognition: Recognition } & Omit<OnnxModelInfo, 'metadata'>);

function forwardPass(sm: SavedModel): ForwardPass {
  const lowering = jax2tfLowering(sm.metaGraph);
  const REBUILT = `musiq-native does not run it: it rebuilds the known ${looksLikeVila(sm) ? 'VILA-R' : 'MUSIQ'} architecture from the variables`;
  const callModules = lowering.callModules.map((m) => ({ ...m, parameterNames: m.parameterNames.length }));
  let description: string;
  if (lowering.kind === 'native') {
    const m = lowering.callModules[0]!;
    description =
      `${lowering.callModules.length === 1 ? 'one XlaCallModule op' : `${lowering.callModules.length} XlaCallModule ops`} ` +
      `(jax2tf native serialisation: StableHLO version ${m.version}, platforms ${m.platforms.join(', ') || 'unspecified'}, ` +
      `${m.moduleBytes} bytes, ${m.dataInputs} inputs) holds the forward pass; ${REBUILT}`;
  } else if (lowering.kind === 'graph') {
    const ops = Object.entries(lowering.xlaOps).map(([op, n]) => `${op} ${n}`).join(', ');
    description = `jax2tf graph serialisation (${ops}) holds the forward pass; ${REBUILT}`;
  } else {
    description = 'ordinary TensorFlow ops (no XlaCallModule or Xla* ops)';
  }
  return { kind: lowering.kind, description, callModules, xlaOps: lowering.xlaOps };
}

function notRecognised(error: unknown): Recognition {
  if (error instanceof SavedModelError || error instanceof CheckpointError) return { recognised: false, reason: error.message };
  throw error;
}

/** What a SavedModel converts to, or why it does not. */
export async function recogniseSavedModel(sm: SavedModel): Promise<Recognition> {
  try {
    if (looksLikeVila(sm)) {
      const tree = await readVilaSavedModel(sm);
      const { config } = vilaParamsFrom(tree.params, tree.textEmbedding, sm.dir);
      return { recognised: true, model: 'vila', name: modelNameFromFolder(sm.dir), config, notes: ['prompt embedding: a unit-norm graph constant'] };
    }
    const mapping = mapMusiqVariables(sm);
    const { config } = await readMusiqParams(sm, mapping);
    const cap = musiqPatchCap(sm, config.numScales);
    const notes = [`parameters: ${mapping.description}`];
    if (mapping.confirmedByArgumentNames) notes.push('the StableHLO argument names list the same parameters in the same order');
    notes.push(`patch cap: ${cap.evidence}`);
    return { recognised: true, model: 'musiq', name: modelNameFromFolder(sm.dir), config, nativePatches: cap.nativePatches, notes };
  } catch (error) {
    return notRecognised(error);
  }
}

async function inspectSavedModel(path: string): Promise<InspectReport> {
  const sm = await readSavedModel(path);
  const entries = sm.bundle?.entries ?? [];
  for (const entry of entries) await sm.bundle!.verify(entry.key);
  return {
    kind: 'savedmodel',
    path,
    summary: sm.summary,
    tensors: entries.map((e) => ({ name: e.key, dtype: e.dtypeName, shape: e.shape })),
    checksumsVerified: entries.length,
    forwardPass: forwardPass(sm),
    recognition: await recogniseSavedModel(sm),
  };
}

async function inspectNpz(path: string): Promise<InspectReport> {
  const arrays = await readNpz(path);
  let recognition: Recognition;
  try {
    const vila = await readVilaNpz(path);
    if (vila) {
      const { config } = vilaParamsFrom(vila.params, vila.textEmbedding, path);
      recognition = { recognised: true, model: 'vila', name: modelNameFromFile(path), config, notes: [`parameters: params/…; prompt embedding: ${VILA_TEXT_EMBEDDING_KEY}`] };
    } else {
      const { config } = musiqParamsFrom(await readMusiqNpz(path), path);
      recognition = { recognised: true, model: 'musiq', name: modelNameFromFile(path), config, nativePatches: 'all', notes: ['parameters: opt/target/…'] };
    }
  } catch (error) {
    recognition = notRecognised(error);
  }
  const tensors = [...arrays].map(([name, a]) => ({ name, dtype: a.dtype, shape: a.shape }));
  return { kind: 'npz', path, tensors, recognition };
}

async function inspectOnnx(path: string): Promise<InspectReport> {
  const { metadata, ...info } = await readOnnxModel(path);
  const { sidecar } = info;
  let recognition: Recognition = {
    recognised: false,
    reason: 'no musiq-native sidecar (.onnx.json) and no musiq-native metadata: not a model musiq-native converted',
  };
  if (sidecar) {
    const notes = [`converted from ${sidecar.source.kind} ${sidecar.source.file}`, `model description from the ${info.sidecarFrom === 'file' ? 'sidecar file' : 'ONNX metadata'}`];
    const { name } = sidecar;
    recognition =
      sidecar.architecture === 'vila'
        ? { recognised: true, model: 'vila', name, config: sidecar.config, notes }
        : { recognised: true, model: 'musiq', name, config: sidecar.config, nativePatches: sidecar.preprocessing.nativePatches, notes };
  }
  return { kind: 'onnx', path, ...info, metadataKeys: Object.keys(metadata), recognition };
}

export async function inspectArtifact(path: string): Promise<InspectReport> {
  switch (artifactKind(path)) {
    case 'savedmodel':
      return inspectSavedModel(path);
    case 'npz':
      return inspectNpz(path);
    case 'onnx':
      return inspectOnnx(path);
  }
}
