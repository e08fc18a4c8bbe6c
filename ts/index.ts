// Public library API.
export { createScorer } from './runtime/scorer.js';
export type { Scorer, ScorerOptions, ScorerStats, ImageScore, ModelScore, ScoreRecord, ScoreInput, NativePatches } from './runtime/scorer.js';
export { ScorerOptionError } from './runtime/scorer-options.js';
export { combineScores, normalizeScore, DEFAULT_WEIGHTS, type Combined } from './runtime/combine.js';
export { convertFrom } from './convert/convert-from.js';
export { convertNpz, type ModelSidecar } from './convert/convert.js';
export { decodeImage, DecodeError, type DecodedImage, type DecodeOptions } from './image/decode.js';
export { extractTokens, PreprocessError, type TokenSet } from './preprocess/tokens.js';
export type { Device } from './runtime/session.js';
export { inspectArtifact, type InspectReport } from './convert/inspect.js';
export { readSavedModel, SavedModelError, type SavedModel } from './convert/savedmodel/saved-model.js';
export { resolveNamedModel, SourceChainError, type ChainOptions, type ChainResult } from './sources/chain.js';
export { sourcesStatus } from './sources/status.js';
export { BUILTIN_MODELS, type ModelEntry } from './sources/registry.js';
