// Worker thread that owns the ONNX Runtime sessions. onnxruntime-node's run() executes synchronously on the
// calling thread, so running it here keeps the main thread free to decode, extract patches, report progress
// and honour AbortSignal while a batch is inferred.
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { createModelSession, type SessionOptions } from './session.js';
import type { WorkerReply, WorkerRequest } from './infer-protocol.js';

if (!parentPort) throw new Error('infer-worker must run in a worker thread');
const port = parentPort;
const sessions: ort.InferenceSession[] = [];

async function handle(request: WorkerRequest): Promise<WorkerReply> {
  switch (request.type) {
    case 'load': {
      const notices: string[] = [];
      const devices: Array<'cpu' | 'cuda'> = [];
      const options: SessionOptions = { ...request.options, log: (line) => notices.push(line) };
      for (const path of request.models) {
        const { session, device } = await createModelSession(path, options);
        sessions.push(session);
        devices.push(device);
      }
      return { id: request.id, type: 'loaded', devices, notices: [...new Set(notices)] };
    }
    case 'run': {
      // Every requested model runs on the same input tensor, transferred here once.
      const feeds = { [request.input]: new ort.Tensor('float32', new Float32Array(request.data), request.dims) };
      const outputs = [];
      for (const index of request.models) {
        const session = sessions[index];
        if (!session) throw new Error(`no session ${index}`);
        const out = await session.run(feeds);
        // VILA has no logits output: its score is the one value per image.
        const logits = out.logits ?? out.score!;
        outputs.push({ logits: logits.data as Float32Array, scores: out.score!.data as Float32Array, classes: logits.dims[1] ?? 1 });
      }
      return { id: request.id, type: 'ran', outputs };
    }
    case 'close':
      await Promise.all(sessions.map((s) => s.release()));
      sessions.length = 0;
      return { id: request.id, type: 'closed' };
  }
}

port.on('message', (request: WorkerRequest) => {
  handle(request).then(
    (reply) => port.postMessage(reply),
    (error: unknown) => port.postMessage({ id: request.id, type: 'error', message: error instanceof Error ? error.message : String(error) }),
  );
});
