// Main-thread handle on the inference worker: one worker holds one session per model for the whole run.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { WorkerReply, WorkerRequest } from './infer-protocol.js';
import type { SessionOptions } from './session.js';

type Pending = { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void };
type Request = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

export interface BatchOutput {
  /** batch × classes */
  logits: Float32Array;
  /** one score per image */
  scores: Float32Array;
  classes: number;
}

/**
 * Starts the worker from the compiled package, or from source (tests, tsx) through tsx's `tsImport`: loaders
 * given with --import do not reach worker threads on Node 20.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./infer-worker.js', import.meta.url));
  const require = createRequire(import.meta.url);
  const tsxPackage = require.resolve('tsx/package.json');
  const exports = (require(tsxPackage) as { exports: Record<string, { import: { default: string } }> }).exports;
  const tsxApi = pathToFileURL(join(dirname(tsxPackage), exports['./esm/api']!.import.default)).href;
  const entry = new URL('./infer-worker.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then(({ tsImport }) => tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}));`;
  return new Worker(bootstrap, { eval: true });
}

export class InferenceWorker {
  private readonly worker = startWorker();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  devices: Array<'cpu' | 'cuda'> = [];

  private constructor() {
    this.worker.on('message', (reply: WorkerReply) => {
      const pending = this.pending.get(reply.id);
      if (!pending) return;
      this.pending.delete(reply.id);
      if (reply.type === 'error') pending.reject(new Error(reply.message));
      else pending.resolve(reply);
    });
    const failAll = (error: Error): void => {
      this.failure = error;
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
    this.worker.on('error', failAll);
    this.worker.on('exit', (code) => {
      if (code !== 0) failAll(new Error(`inference worker exited with code ${code}`));
    });
  }

  private request(message: Request, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** Loads one session per model path; `log` receives the execution-provider notices once. */
  static async start(models: string[], options: SessionOptions): Promise<InferenceWorker> {
    const worker = new InferenceWorker();
    try {
      const { log, ...sessionOptions } = options;
      const reply = await worker.request({ type: 'load', models, options: sessionOptions });
      if (reply.type !== 'loaded') throw new Error('unexpected reply from the inference worker');
      worker.devices = reply.devices;
      reply.notices.forEach((line) => log?.(line));
      return worker;
    } catch (error) {
      await worker.worker.terminate();
      throw error;
    }
  }

  /** Runs the given models on one batched input tensor; its buffer is transferred, not copied. */
  async run(models: number[], input: string, data: Float32Array, dims: number[]): Promise<BatchOutput[]> {
    const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
    const buffer = (whole ? data.buffer : data.slice().buffer) as ArrayBuffer;
    const reply = await this.request({ type: 'run', models, input, data: buffer, dims }, [buffer]);
    if (reply.type !== 'ran') throw new Error('unexpected reply from the inference worker');
    return reply.outputs;
  }

  async close(): Promise<void> {
    if (!this.failure) await this.request({ type: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }
}
