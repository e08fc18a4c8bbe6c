// Reads the variables a mapping placed on a parameter tree (MUSIQ or VILA) from the SavedModel's
// variables/ checkpoint, checking each stored shape against the one the SavedModel declares.
import { toFloat32, type ParamTree } from '../musiq-params.js';
import { describeShape } from '../tensorbundle/entry.js';
import { SavedModelError, type SavedModel, type SavedVariableInfo } from './saved-model.js';

export async function readMappedVariables(
  sm: SavedModel,
  mapping: Iterable<[string, SavedVariableInfo]>,
  warn?: (line: string) => void,
): Promise<ParamTree> {
  const { bundle } = sm;
  if (!bundle) throw new SavedModelError(`${sm.dir}: has no variables/ checkpoint to read the parameters from`);
  const params: ParamTree = new Map();
  for (const [path, variable] of mapping) {
    const key = variable.checkpointKey;
    if (!key) throw new SavedModelError(`${sm.dir}: variable ${variable.path} has no value in the variables/ checkpoint`);
    const array = await bundle.readArray(key);
    if (variable.shape && describeShape(variable.shape) !== describeShape(array.shape)) {
      throw new SavedModelError(`${sm.dir}: ${key} holds shape ${describeShape(array.shape)} but the SavedModel declares ${describeShape(variable.shape)}`);
    }
    const { tensor, warning } = toFloat32(key, array);
    if (warning) warn?.(warning);
    params.set(path, tensor);
  }
  return params;
}
