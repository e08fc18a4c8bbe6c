// SavedModel folder → musiq-native ONNX model. The weights are read from variables/ and placed on the MUSIQ
// tree; the graph (preprocessing and an XlaCallModule or Xla* ops) is not translated: the ONNX graph is rebuilt
// by our MUSIQ builder, exactly as for an .npz checkpoint, so both paths give the same model.
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { modelNameFromFile, sha256File, writeMusiqModel, type ConvertNpzOptions, type ModelSidecar } from '../convert.js';
import { shardFileName } from '../tensorbundle/bundle.js';
import { mapMusiqVariables, musiqPatchCap, readMusiqParams } from './musiq-mapping.js';
import { readSavedModel, type SavedModel } from './saved-model.js';

/**
 * The files that define a SavedModel's weights and graph, in a fixed order: saved_model.pb, then
 * variables/variables.index, then the data shards in shard order (assets and fingerprint.pb are left out).
 */
function savedModelFiles(sm: SavedModel): string[] {
  const files = ['saved_model.pb'];
  if (sm.bundle) {
    const { numShards } = sm.bundle.header;
    files.push('variables/variables.index');
    for (let shard = 0; shard < numShards; shard++) files.push(`variables/${shardFileName('variables', shard, numShards)}`);
  }
  return files;
}

/**
 * The SHA-256 of a SavedModel folder: the hash of the lines `<sha256 of file>  <relative path>\n` over
 * `savedModelFiles`, i.e. what
 * `sha256sum saved_model.pb variables/variables.index variables/variables.data-* | sha256sum` prints in the folder.
 */
export async function savedModelSha256(sm: SavedModel): Promise<string> {
  const hash = createHash('sha256');
  for (const file of savedModelFiles(sm)) hash.update(`${await sha256File(join(sm.dir, file))}  ${file}\n`);
  return hash.digest('hex');
}

/** `koniq-10k/1` → `koniq`: TF Hub and Kaggle folders end in a version number, so the name is the parent's. */
export function modelNameFromFolder(dir: string): string {
  const base = basename(dir);
  return modelNameFromFile(/^\d+$/.test(base) ? basename(dirname(dir)) : base);
}

/** `musiq-native convert --from <SavedModel folder> --out model.onnx` */
export async function convertSavedModel(dir: string, outPath: string, options: ConvertNpzOptions = {}): Promise<ModelSidecar> {
  const sm = await readSavedModel(dir);
  const mapping = mapMusiqVariables(sm);
  const { params, config } = await readMusiqParams(sm, mapping, options.warn);
  options.signal?.throwIfAborted();
  const cap = musiqPatchCap(sm, config.numScales);
  if (!cap.foundInGraph) options.warn?.(`${dir}: ${cap.evidence}`);
  return writeMusiqModel(params, outPath, {
    name: options.name ?? modelNameFromFolder(dir),
    source: { kind: 'savedmodel', file: dir, sha256: await savedModelSha256(sm) },
    nativePatches: cap.nativePatches,
  });
}
