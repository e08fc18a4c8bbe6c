// One error type for everything wrong with a checkpoint's files: the message names the file and what is wrong.
export class TensorBundleError extends Error {
  override name = 'TensorBundleError';
}
