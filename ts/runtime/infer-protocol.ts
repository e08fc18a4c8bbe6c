// Messages between the main thread and the inference worker.
import type { SessionOptions } from './session.js';

export type WorkerRequest =
  | { id: number; type: 'load'; models: string[]; options: Omit<SessionOptions, 'log'> }
  | { id: number; type: 'run'; models: number[]; input: string; data: ArrayBuffer; dims: number[] }
  | { id: number; type: 'close' };

export type WorkerReply =
  | { id: number; type: 'loaded'; devices: Array<'cpu' | 'cuda'>; notices: string[] }
  | { id: number; type: 'ran'; outputs: Array<{ logits: Float32Array; scores: Float32Array; classes: number }> }
  | { id: number; type: 'closed' }
  | { id: number; type: 'error'; message: string };
