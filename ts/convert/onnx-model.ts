// Reads what an .onnx file says about itself (inputs, outputs, opsets, metadata) and the musiq-native model
// description: the sidecar next to it, or the copy that `writeMusiqModel` embeds in the metadata.
import { existsSync } from 'node:fs';
import { copyFile, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ModelProto } from '../onnx/schema.js';
import { readSidecarFile, sidecarPath, writeFileAtomic, type ModelSidecar } from './convert.js';

export interface OnnxValueInfo {
  name: string;
  elemType: number;
  /** Numbers for fixed dimensions, names for symbolic ones. */
  dims: Array<number | string>;
}

export interface OnnxModelInfo {
  producer: string;
  opsets: Array<{ domain: string; version: number }>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  metadata: Record<string, string>;
  /** From `<model>.onnx.json`, else from the `musiq-native` metadata entry; null for other ONNX models. */
  sidecar: ModelSidecar | null;
  sidecarFrom: 'file' | 'metadata' | null;
}

const SIDECAR_METADATA_KEY = 'musiq-native';

interface DecodedValueInfo {
  name: string;
  type?: { tensor_type?: { elem_type: number; shape?: { dim: Array<{ dim_value?: number; dim_param?: string }> } } };
}

function valueInfo(v: DecodedValueInfo): OnnxValueInfo {
  const tensor = v.type?.tensor_type;
  return { name: v.name, elemType: tensor?.elem_type ?? 0, dims: (tensor?.shape?.dim ?? []).map((d) => d.dim_param || (d.dim_value ?? 0)) };
}

export async function readOnnxModel(path: string): Promise<OnnxModelInfo> {
  const bytes = await readFile(path);
  let model: {
    producer_name: string;
    producer_version: string;
    opset_import: Array<{ domain: string; version: number }>;
    graph: { input: DecodedValueInfo[]; output: DecodedValueInfo[] } | null;
    metadata_props: Array<{ key: string; value: string }>;
  };
  try {
    model = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, defaults: true, arrays: true }) as typeof model;
  } catch (error) {
    throw new Error(`${path}: not a valid ONNX model (${(error as Error).message})`, { cause: error });
  }
  const metadata = Object.fromEntries(model.metadata_props.map((p) => [p.key, p.value]));
  let sidecar: ModelSidecar | null = null;
  let sidecarFrom: OnnxModelInfo['sidecarFrom'] = null;
  if (existsSync(sidecarPath(path))) {
    sidecar = await readSidecarFile(path);
    sidecarFrom = 'file';
  } else if (metadata[SIDECAR_METADATA_KEY]) {
    sidecar = JSON.parse(metadata[SIDECAR_METADATA_KEY]) as ModelSidecar;
    sidecarFrom = 'metadata';
  }
  return {
    producer: `${model.producer_name} ${model.producer_version}`.trim(),
    opsets: model.opset_import.map((o) => ({ domain: o.domain || 'ai.onnx', version: o.version })),
    inputs: (model.graph?.input ?? []).map(valueInfo),
    outputs: (model.graph?.output ?? []).map(valueInfo),
    metadata,
    sidecar,
    sidecarFrom,
  };
}

/** Installs an already converted musiq-native model at `outPath`, with its sidecar (renamed if `name` is given). */
export async function copyOnnxModel(path: string, outPath: string, name?: string): Promise<ModelSidecar> {
  const { sidecar: found } = await readOnnxModel(path);
  if (!found || found.format !== 'musiq-native-model') {
    throw new Error(`${path} is not a musiq-native model: it has no ${sidecarPath(path)} and no '${SIDECAR_METADATA_KEY}' metadata`);
  }
  const sidecar = name ? { ...found, name } : found;
  if (resolve(path) !== resolve(outPath)) await copyFile(path, outPath);
  await writeFileAtomic(sidecarPath(outPath), `${JSON.stringify(sidecar, null, 2)}\n`);
  return sidecar;
}
