// Public library API.
export { createScorer, dropPaddingRows } from './runtime/scorer.js';
export type { Scorer, ScorerOptions, ScoreResult, ScoreRecord, ScoreInput } from './runtime/scorer.js';
export { convertFrom } from './convert/convert-from.js';
export { convertNpz, type ModelSidecar } from './convert/convert.js';
export { decodeImage, DecodeError, type DecodedImage, type DecodeOptions } from './image/decode.js';
export { extractTokens, PreprocessError, type TokenSet } from './preprocess/tokens.js';
export type { Device } from './runtime/session.js';
