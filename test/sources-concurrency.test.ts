// Two processes resolving the same model at once: one downloads, the other waits on the lock and then finds
// the result; both succeed. The storage host holds its answer until the second process says it is waiting,
// so the two overlap on every run (no timing guesses).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { npzBundle, startStorage, startTfhub, TINY_NPZ, type Storage, type TestServer } from './helpers/hub-servers.js';
import { sandboxEnv, sandboxRoot, tree, type SandboxRoot } from './helpers/sandbox.js';

const ROOT = join(import.meta.dirname, '..');
const NPZ_PATH = '/gresearch/musiq/koniq_ckpt.npz';
const HANDLE_PATH = '/google/musiq/koniq-10k/1';
const BUNDLE = '/kaggle-models-data/630/763/bundle/archive.tar.gz';
const KONIQ_TFHUB_DIR = '2434169026d74954128d5b0c8fb1aae8fa0c23f1';

let storage: Storage;
let tfhub: TestServer;
let root: SandboxRoot;

beforeAll(async () => {
  storage = await startStorage();
  tfhub = await startTfhub(storage, { [HANDLE_PATH]: BUNDLE });
  root = await sandboxRoot('musiq-concurrency-');
});
afterAll(async () => {
  await Promise.all([storage.close(), tfhub.close()]);
  await root.remove();
});

interface Running {
  /** Resolves when a line of its stderr matches. */
  saw(pattern: RegExp): Promise<void>;
  done: Promise<{ code: number | null; stderr: string }>;
}

/** `musiq-native convert --model koniq` in a child process, its stderr watched as it arrives. */
function convert(env: NodeJS.ProcessEnv, order: string): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'ts/cli/main.ts'), 'convert', '--model', 'koniq', '--sources', order, '--source-timeout', '20'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const watchers: Array<{ pattern: RegExp; resolve: () => void }> = [];
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of watchers) if (w.pattern.test(stderr)) w.resolve();
  });
  return {
    saw: (pattern) => new Promise((resolve) => (pattern.test(stderr) ? resolve() : watchers.push({ pattern, resolve }))),
    done: new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    }),
  };
}

/** Resolves once the storage host has been asked for `path` (the lock holder is downloading). */
async function requested(path: string): Promise<void> {
  while (storage.gets(path).length === 0) await new Promise((r) => setTimeout(r, 10));
}

/** Holds `path` on the storage host until released; returns the release. */
function hold(path: string, body: Buffer): () => void {
  let release!: () => void;
  storage.objects.set(path, { body, gate: new Promise<void>((r) => (release = r)) });
  return release;
}

describe('two processes, one model', () => {
  it('share the models cache: one downloads, the other waits for its lock and takes the result', async () => {
    const dir = await root.caseDir('shared-cache');
    const release = hold(NPZ_PATH, TINY_NPZ);
    const env = { ...sandboxEnv(dir), MUSIQ_NATIVE_NPZ_MIRROR: storage.url };
    const [a, b] = [convert(env, 'npz'), convert(env, 'npz')];
    // Whichever got the lock is downloading; release the object once the other says it waits.
    await Promise.all([requested(NPZ_PATH), Promise.race([a, b].map((p) => p.saw(/waiting for .* pid \d+, which is preparing koniq/)))]);
    release();
    const results = await Promise.all([a.done, b.done]);
    expect(results.map((r) => r.code)).toEqual([0, 0]);
    const stderr = results.map((r) => r.stderr).join('\n');
    expect(stderr.match(/✓ koniq loaded from \.npz URL/g)).toHaveLength(1);
    expect(stderr.match(/koniq\.onnx already in the models cache/g)).toHaveLength(1);
    expect(storage.gets(NPZ_PATH)).toHaveLength(1);
    expect(await tree(join(dir, 'cache'))).toEqual(['downloads/storage.googleapis.com/gresearch/musiq/koniq_ckpt.npz', 'models/koniq.onnx', 'models/koniq.onnx.json', 'sources-health.json']);
  }, 20_000); // without the lock both would download and neither would wait: fail in bounded time

  it("share only TF Hub's cache (as with a Python process): the module is downloaded once, under its lock", async () => {
    const dir = join(root.path, 'shared-tfhub');
    const release = hold(BUNDLE, npzBundle());
    const envs = ['a', 'b'].map((name) => ({ ...sandboxEnv(join(dir, name)), TFHUB_CACHE_DIR: join(dir, 'tfhub'), MUSIQ_NATIVE_TFHUB_MIRROR: tfhub.url }));
    const [a, b] = envs.map((env) => convert(env, 'tfhub')) as [Running, Running];
    await Promise.all([requested(BUNDLE), Promise.race([a, b].map((p) => p.saw(/waiting for .* pid \d+, which is downloading https:\/\/tfhub\.dev\/google\/musiq\/koniq-10k\/1/)))]);
    release();
    const results = await Promise.all([a.done, b.done]);
    expect(results.map((r) => r.code)).toEqual([0, 0]);
    expect(storage.gets(BUNDLE)).toHaveLength(1);
    expect(await tree(join(dir, 'tfhub'))).toEqual([`${KONIQ_TFHUB_DIR}.descriptor.txt`, `${KONIQ_TFHUB_DIR}/koniq_ckpt.npz`]);
    for (const name of ['a', 'b']) expect(await tree(join(dir, name, 'cache', 'models'))).toEqual(['koniq.onnx', 'koniq.onnx.json']);
  }, 20_000);
});
