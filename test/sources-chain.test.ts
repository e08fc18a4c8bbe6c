// The fallback chain against loopback servers: TF Hub (redirect chain to a storage host serving a tar.gz),
// the .npz bucket, local files; every failure kind falls through with its one-line reason, leaves nothing
// half-written in any cache, and the next source succeeds. Caches in tensorflow_hub's and kagglehub's layouts
// are used without network; --offline never touches it.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readNpz } from '../ts/convert/npz.js';
import { readHealth, resolveNamedModel, SourceChainError, type ChainOptions } from '../ts/sources/chain.js';
import { sandboxEnv, sandboxRoot, tree, type SandboxRoot } from './helpers/sandbox.js';
import { makeTarGz } from './helpers/tar.js';
import { makeNpy, makeZip } from './helpers/zip.js';
import { npzBundle, refusedUrl, startStorage, startTfhub, TINY_10CLASS_NPZ, TINY_NPZ, type Storage, type TestServer } from './helpers/hub-servers.js';
import { fixturePath } from './helpers/fixtures.js';

const HANDLE_PATH = '/google/musiq/koniq-10k/1';
const BUNDLE = '/kaggle-models-data/630/763/bundle/archive.tar.gz';
const NPZ_PATH = '/gresearch/musiq/koniq_ckpt.npz';
const KONIQ_TFHUB_DIR = '2434169026d74954128d5b0c8fb1aae8fa0c23f1'; // hub-protocols.md §1

let storage: Storage;
let tfhub: TestServer;
let root: SandboxRoot;
let dir: string;
let logs: string[];

beforeAll(async () => {
  storage = await startStorage();
  tfhub = await startTfhub(storage, { [HANDLE_PATH]: BUNDLE });
  root = await sandboxRoot('musiq-sources-');
});
afterAll(async () => {
  await Promise.all([storage.close(), tfhub.close()]);
  await root.remove();
});

beforeEach(async () => {
  dir = await root.caseDir();
  logs = [];
  storage.objects.clear();
  storage.requests.length = 0;
  tfhub.requests.length = 0;
  storage.objects.set(BUNDLE, { body: npzBundle() });
  storage.objects.set(NPZ_PATH, { body: TINY_NPZ });
});

function options(extra: ChainOptions = {}): ChainOptions {
  return {
    env: sandboxEnv(dir),
    log: (line) => logs.push(line),
    mirrors: { tfhub: tfhub.url, npz: storage.url, kaggle: 'http://127.0.0.1:1' },
    timeoutSeconds: 0.4,
    retries: 1,
    backoffMs: 5,
    lockPollMs: 20,
    ...extra,
  };
}

describe('TF Hub compressed protocol', () => {
  it('follows the redirect chain to the storage host and stores the module in the tensorflow_hub layout', async () => {
    const result = await resolveNamedModel('koniq', options({ order: ['tfhub', 'npz'] }));
    expect(result.source).toBe('tfhub');
    expect(result.from).toBe('fetched');
    expect(result.sidecar.name).toBe('koniq');
    expect(result.path).toBe(join(dir, 'cache', 'models', 'koniq.onnx'));
    // Three redirects on the hub host, then the signed storage URL; never any credentials.
    expect(tfhub.requests.map((r) => new URL(r.url, 'http://x').pathname)).toEqual([HANDLE_PATH, `/hop1${HANDLE_PATH}`, `/hop2${HANDLE_PATH}`]);
    expect(tfhub.requests[0]!.url).toContain('tf-hub-format=compressed');
    expect(storage.gets(BUNDLE)).toHaveLength(1);
    expect(storage.gets(BUNDLE)[0]!.url).toContain('X-Goog-Signature');
    for (const r of [...tfhub.requests, ...storage.requests]) expect(r.headers.authorization).toBeUndefined();
    expect(await tree(join(dir, 'tfhub'))).toEqual([`${KONIQ_TFHUB_DIR}.descriptor.txt`, `${KONIQ_TFHUB_DIR}/koniq_ckpt.npz`]);
    expect(await readFile(join(dir, 'tfhub', `${KONIQ_TFHUB_DIR}.descriptor.txt`), 'utf8')).toContain('Module: https://tfhub.dev/google/musiq/koniq-10k/1');
    expect(await tree(join(dir, 'cache'))).toEqual(['models/koniq.onnx', 'models/koniq.onnx.json', 'sources-health.json']);
    // The mirror is what is contacted; the log names it first.
    expect(logs).toContain(`Loading koniq from TF Hub: ${tfhub.url}${HANDLE_PATH} (mirror of https://tfhub.dev${HANDLE_PATH})`);
    expect(logs.at(-1)).toMatch(/^✓ koniq loaded from TF Hub \(converted to .*koniq\.onnx\)$/);
  });

  it('answers from the models cache the second time, without network', async () => {
    await resolveNamedModel('koniq', options({ order: ['npz'] }));
    const before = storage.requests.length;
    const again = await resolveNamedModel('koniq', options({ order: ['npz'] }));
    expect(again.source).toBe('cache');
    expect(storage.requests.length).toBe(before);
  });
});

describe('each failure kind falls through to the next source, leaving no partial file', () => {
  const cases: Array<{ name: string; setup: () => void | Promise<void>; reason: RegExp; mirror?: () => Promise<string>; downloaded?: boolean }> = [
    { name: 'timeout', setup: () => void storage.objects.set(BUNDLE, { body: npzBundle(), hang: true }), reason: /timeout: no response from 127\.0\.0\.1:\d+ after 0\.4 s/ },
    { name: 'connection refused', setup: () => undefined, mirror: refusedUrl, reason: /connection refused by 127\.0\.0\.1:\d+/ },
    { name: 'HTTP 404', setup: () => void storage.objects.delete(BUNDLE), reason: /HTTP 404 Not Found/ },
    { name: 'HTTP 500', setup: () => void storage.objects.set(BUNDLE, { body: npzBundle(), status: 500 }), reason: /HTTP 500 Internal Server Error/ },
    {
      name: 'truncated body',
      setup: () => void storage.objects.set(BUNDLE, { body: npzBundle(), truncateAt: 40_000 }),
      reason: /truncated body: got \d+ of \d+ bytes/,
    },
    { name: 'wrong md5', setup: () => void storage.objects.set(BUNDLE, { body: npzBundle(), md5: 'AAAAAAAAAAAAAAAAAAAAAA==' }), reason: /checksum mismatch/ },
    {
      name: "a member with '..'",
      setup: () => void storage.objects.set(BUNDLE, { body: makeTarGz([{ name: './koniq_ckpt.npz', data: TINY_NPZ }, { name: '../evil.txt', data: Buffer.from('x') }]) }),
      reason: /archive member '\.\.\/evil\.txt' points outside the destination/,
    },
    {
      name: 'a symbolic link',
      setup: () => void storage.objects.set(BUNDLE, { body: makeTarGz([{ name: './link', type: '2', linkname: '/etc/passwd' }, { name: './koniq_ckpt.npz', data: TINY_NPZ }]) }),
      reason: /archive member '\.\/link' is a symbolic link/,
    },
    { name: 'an empty archive', setup: () => void storage.objects.set(BUNDLE, { body: makeTarGz([]) }), reason: /empty archive/ },
    {
      name: 'a head of the wrong size',
      setup: () => void storage.objects.set(BUNDLE, { body: npzBundle(TINY_10CLASS_NPZ) }),
      reason: /the npz has a 10-class head, but koniq has 1/,
      // The download itself was complete and stays in TF Hub's cache; only the conversion refused it.
      downloaded: true,
    },
  ];

  for (const c of cases) {
    it(`TF Hub: ${c.name}`, async () => {
      await c.setup();
      const mirror = c.mirror ? await c.mirror() : tfhub.url;
      const result = await resolveNamedModel('koniq', options({ order: ['tfhub', 'npz'], mirrors: { tfhub: mirror, npz: storage.url } }));
      expect(result.source).toBe('npz');
      const failure = logs.find((l) => l.startsWith('⚠'))!;
      expect(failure).toMatch(new RegExp(`^⚠ TF Hub failed for koniq: ${c.reason.source}.*; falling back to \\.npz URL$`));
      expect(failure).not.toContain('\n');
      expect(logs.at(-1)).toMatch(/^✓ koniq loaded from \.npz URL/);
      expect(result.failures).toEqual([expect.objectContaining({ kind: 'tfhub', stage: 'source' })]);
      // The failed module left nothing in TF Hub's cache: no module folder, no .tmp, no .lock, no descriptor.
      expect(await tree(join(dir, 'tfhub'))).toEqual(c.downloaded ? [`${KONIQ_TFHUB_DIR}.descriptor.txt`, `${KONIQ_TFHUB_DIR}/koniq_ckpt.npz`] : []);
      expect(await tree(join(dir, 'cache'))).toEqual([
        'downloads/storage.googleapis.com/gresearch/musiq/koniq_ckpt.npz',
        'models/koniq.onnx',
        'models/koniq.onnx.json',
        'sources-health.json',
      ]);
    });
  }

  it('retries a 500 with backoff (bounded), then gives up', async () => {
    storage.objects.set(BUNDLE, { body: npzBundle(), status: 500 });
    await resolveNamedModel('koniq', options({ order: ['tfhub', 'npz'], retries: 2 }));
    expect(storage.gets(BUNDLE)).toHaveLength(3);
    expect(logs.filter((l) => /TF Hub: HTTP 500 .*retry \d of 2/.test(l))).toHaveLength(2);
  });

  const npzCases: Array<{ name: string; object: () => object; reason: RegExp }> = [
    { name: 'truncated body', object: () => ({ body: TINY_NPZ, truncateAt: 100_000 }), reason: /truncated body: got 100000 of \d+ bytes/ },
    { name: 'wrong md5', object: () => ({ body: TINY_NPZ, md5: 'AAAAAAAAAAAAAAAAAAAAAA==' }), reason: /checksum mismatch/ },
    { name: 'HTTP 404', object: () => ({ body: TINY_NPZ, status: 404 }), reason: /HTTP 404 Not Found/ },
  ];
  for (const c of npzCases) {
    it(`.npz URL: ${c.name}, then local files`, async () => {
      storage.objects.set(NPZ_PATH, c.object() as never);
      const checkpoints = join(dir, 'checkpoints');
      await mkdir(checkpoints);
      await copyFile(fixturePath('ckpt_tiny_1class.npz'), join(checkpoints, 'koniq_ckpt.npz'));
      const result = await resolveNamedModel('koniq', options({ order: ['npz', 'local'], checkpointsDir: checkpoints }));
      expect(result.source).toBe('local');
      expect(logs.find((l) => l.startsWith('⚠'))).toMatch(new RegExp(`^⚠ \\.npz URL failed for koniq: ${c.reason.source}.*; falling back to local files$`));
      expect(await tree(join(dir, 'cache'))).toEqual(['models/koniq.onnx', 'models/koniq.onnx.json', 'sources-health.json']);
    });
  }

  it('.npz URL: a cut download resumes with Range from where it stopped', async () => {
    storage.objects.set(NPZ_PATH, { body: TINY_NPZ, truncateAt: 1_000_000, truncateTimes: 1 });
    const result = await resolveNamedModel('koniq', options({ order: ['npz'] }));
    expect(result.source).toBe('npz');
    const gets = storage.gets(NPZ_PATH);
    expect(gets).toHaveLength(2);
    expect(gets[0]!.headers.range).toBeUndefined();
    // From what reached the disk before the cut (at most the 1 000 000 bytes sent).
    const from = Number(/^bytes=(\d+)-$/.exec(String(gets[1]!.headers.range))?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(1_000_000);
    const stored = await readFile(join(dir, 'cache/downloads/storage.googleapis.com/gresearch/musiq/koniq_ckpt.npz'));
    expect(createHash('sha256').update(stored).digest('hex')).toBe(createHash('sha256').update(TINY_NPZ).digest('hex'));
  });

  it('a SavedModel the converter cannot read is a failure with its reason, and the chain goes on', async () => {
    storage.objects.set(BUNDLE, {
      body: makeTarGz([
        { name: './saved_model.pb', data: Buffer.from('not a protobuf') },
        { name: './variables/variables.index', data: Buffer.from('nope') },
      ]),
    });
    const result = await resolveNamedModel('koniq', options({ order: ['tfhub', 'npz'] }));
    expect(result.source).toBe('npz');
    // The SavedModel reader's own reason, naming the file, in the fallback line.
    expect(logs.find((l) => l.startsWith('⚠'))).toMatch(/^⚠ TF Hub failed for koniq: conversion failed: \S+\/saved_model\.pb: not a valid SavedModel protobuf .*; falling back to \.npz URL$/);
  });

  it('names every reason when no source works', async () => {
    storage.objects.delete(BUNDLE);
    storage.objects.delete(NPZ_PATH);
    const error = await resolveNamedModel('koniq', options({ order: ['tfhub', 'npz', 'local'] })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceChainError);
    expect((error as Error).message).toMatch(/^no source could provide koniq \(TF Hub: HTTP 404 .*; \.npz URL: HTTP 404 .*; local files: no local checkpoint/);
    expect(logs.at(-1)).toMatch(/^⚠ local files failed for koniq: no local checkpoint .*; no sources left$/);
    expect(await tree(join(dir, 'tfhub'))).toEqual([]);
    expect((await tree(join(dir, 'cache'))).filter((f) => !f.endsWith('sources-health.json'))).toEqual([]);
  });
});

describe('caches written by the Python clients, used without network', () => {
  it("finds a module in tensorflow_hub's layout (sha1 of the handle)", async () => {
    const module = join(dir, 'tfhub', KONIQ_TFHUB_DIR);
    await mkdir(module, { recursive: true });
    await writeFile(join(module, 'koniq_ckpt.npz'), TINY_NPZ);
    const refused = await refusedUrl();
    const result = await resolveNamedModel('koniq', options({ mirrors: { tfhub: refused, npz: refused, kaggle: refused } }));
    expect(result.source).toBe('tfhub');
    expect(result.from).toBe('source cache');
    expect(logs).toContain(`Loading koniq from the TF Hub cache: ${join(module, 'koniq_ckpt.npz')}`);
  });

  it("finds a version in kagglehub's layout with its .complete marker, and ignores one without", async () => {
    const base = join(dir, 'kagglehub', 'models', 'google', 'musiq', 'tensorFlow2', 'koniq-10k');
    await mkdir(join(base, '1'), { recursive: true });
    await writeFile(join(base, '1', 'koniq_ckpt.npz'), TINY_NPZ);
    const refused = await refusedUrl();
    const offlineish = options({ order: ['kaggle'], mirrors: { tfhub: refused, npz: refused, kaggle: refused }, retries: 0 });
    // No marker: an unfinished download, not a cache hit; the network attempt is refused.
    await expect(resolveNamedModel('koniq', offlineish)).rejects.toThrow(/Kaggle Models: connection refused/);
    expect(existsSync(join(base, '1', 'koniq_ckpt.npz'))).toBe(true);
    await writeFile(join(base, '1.complete'), '');
    const result = await resolveNamedModel('koniq', offlineish);
    expect(result.source).toBe('kaggle');
    expect(result.from).toBe('source cache');
  });

  it('--offline uses caches and local files only, and says so', async () => {
    const checkpoints = join(dir, 'checkpoints');
    await mkdir(checkpoints);
    await writeFile(join(checkpoints, 'koniq_ckpt.npz'), TINY_NPZ);
    const result = await resolveNamedModel('koniq', options({ offline: true, checkpointsDir: checkpoints }));
    expect(result.source).toBe('local');
    expect(tfhub.requests).toHaveLength(0);
    expect(storage.requests).toHaveLength(0);
    expect(logs[0]).toBe('offline: not trying TF Hub, Kaggle Models, .npz URL for koniq');
  });

  it('--offline with nothing cached fails without any request', async () => {
    await expect(resolveNamedModel('spaq', options({ offline: true }))).rejects.toThrow(/^no source could provide spaq \(local files: no local checkpoint.*offline, so the network sources were not tried\)$/);
    expect(tfhub.requests.length + storage.requests.length).toBe(0);
  });
});

describe('an artifact that does not convert', () => {
  const HTML = Buffer.from('<html>Access denied</html>\n');
  const downloaded = (): string => join(dir, 'cache/downloads/storage.googleapis.com/gresearch/musiq/koniq_ckpt.npz');

  it('downloaded now: removed from our downloads cache, and the next run downloads it afresh', async () => {
    storage.objects.set(NPZ_PATH, { body: HTML });
    await expect(resolveNamedModel('koniq', options({ order: ['npz'] }))).rejects.toThrow(/\.npz URL: conversion failed: cannot read .*koniq_ckpt\.npz: not a readable zip archive/);
    expect(logs).toContain(`Loading koniq from .npz URL: ${storage.url}${NPZ_PATH} (mirror of https://storage.googleapis.com${NPZ_PATH})`);
    expect(logs).toContain(`removed ${downloaded()} from the .npz URL cache: it did not convert, so it will be downloaded again`);
    expect((await tree(join(dir, 'cache'))).filter((f) => !f.endsWith('sources-health.json'))).toEqual([]);

    storage.objects.set(NPZ_PATH, { body: TINY_NPZ });
    const result = await resolveNamedModel('koniq', options({ order: ['npz'] }));
    expect(result).toMatchObject({ source: 'npz', from: 'fetched' });
    expect(storage.gets(NPZ_PATH)).toHaveLength(2);
  });

  it('already in our downloads cache: removed, then the same source downloads it afresh', async () => {
    await mkdir(dirname(downloaded()), { recursive: true });
    await writeFile(downloaded(), HTML);
    const result = await resolveNamedModel('koniq', options({ order: ['npz'] }));
    expect(result).toMatchObject({ source: 'npz', from: 'fetched' });
    expect(logs.find((l) => l.startsWith('⚠'))).toMatch(/^⚠ the \.npz URL cache of koniq is unusable: conversion failed: .*not a readable zip archive.*; trying the sources$/);
    expect(logs).toContain(`removed ${downloaded()} from the .npz URL cache: it did not convert, so it will be downloaded again`);
    expect(storage.gets(NPZ_PATH)).toHaveLength(1);
    expect(await readFile(downloaded())).toEqual(TINY_NPZ);
  });

  it("in tensorflow_hub's cache (shared with Python): reported and left in place", async () => {
    const module = join(dir, 'tfhub', KONIQ_TFHUB_DIR);
    await mkdir(module, { recursive: true });
    await writeFile(join(module, 'koniq_ckpt.npz'), HTML);
    const result = await resolveNamedModel('koniq', options({ order: ['tfhub', 'npz'] }));
    expect(result.source).toBe('npz');
    expect(logs.find((l) => l.startsWith('⚠'))).toMatch(/^⚠ the TF Hub cache of koniq is unusable: /);
    expect(logs.some((l) => l.startsWith('removed'))).toBe(false);
    expect(await readFile(join(module, 'koniq_ckpt.npz'))).toEqual(HTML);
  });
});

/** The fixture checkpoint written anew (deflated) with a different head bias: another model, another file. */
async function otherCheckpoint(path: string): Promise<void> {
  const arrays = await readNpz(fixturePath('ckpt_tiny_1class.npz'));
  (arrays.get('opt/target/head/bias')!.data as Float32Array)[0]! += 1;
  const entries = [...arrays].map(([key, { dtype, shape, data }]) => ({
    name: `${key}.npy`,
    data: makeNpy(`{'descr': '${dtype}', 'fortran_order': False, 'shape': (${shape.map((d) => `${d},`).join(' ')}), }`, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
    deflate: true,
  }));
  await writeFile(path, makeZip(entries));
}

const sha256 = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex');

describe('a model converted from a local file', () => {
  it('is converted again when that file changes, and only then', async () => {
    const checkpoints = join(dir, 'checkpoints');
    const local = join(checkpoints, 'koniq_ckpt.npz');
    await mkdir(checkpoints);
    await writeFile(local, TINY_NPZ);
    const first = await resolveNamedModel('koniq', options({ order: ['local'], checkpointsDir: checkpoints }));
    expect(first.source).toBe('local');
    expect(first.sidecar.source.local).toEqual({ path: local, size: TINY_NPZ.length, mtimeMs: expect.any(Number) });
    expect(JSON.parse(await readFile(`${first.path}.json`, 'utf8')).source.local).toEqual(first.sidecar.source.local);
    expect((await resolveNamedModel('koniq', options({ order: ['local'], checkpointsDir: checkpoints }))).source).toBe('cache');

    await otherCheckpoint(local);
    logs.length = 0;
    const second = await resolveNamedModel('koniq', options({ order: ['local'], checkpointsDir: checkpoints }));
    expect(second.source).toBe('local');
    expect(logs[0]).toMatch(new RegExp(`^${local.replace(/[/.]/g, '\\$&')} changed since koniq was converted from it \\(${TINY_NPZ.length} → \\d+ bytes, modified .*\\); converting it again$`));
    expect(second.sidecar.source.sha256).toBe(await sha256(local));
    expect((await resolveNamedModel('koniq', options({ order: ['local'], checkpointsDir: checkpoints }))).source).toBe('cache');
  });

  it('refresh converts again whatever the models cache holds, from the sources’ caches', async () => {
    await resolveNamedModel('koniq', options({ order: ['npz'] }));
    logs.length = 0;
    const again = await resolveNamedModel('koniq', options({ order: ['npz'], refresh: true }));
    expect(again).toMatchObject({ source: 'npz', from: 'source cache' });
    expect(logs[0]).toBe('refresh: converting koniq again, whatever the models cache holds');
    expect(storage.gets(NPZ_PATH)).toHaveLength(1);
  });
});

describe('parallel attempts and the health record', () => {
  it('uses the first source that answers and cancels the other probes', async () => {
    storage.objects.set(BUNDLE, { body: npzBundle(), hang: true });
    const started = performance.now();
    const result = await resolveNamedModel('koniq', options({ order: ['tfhub', 'npz'], parallel: true, timeoutSeconds: 5 }));
    expect(result.source).toBe('npz');
    expect(performance.now() - started).toBeLessThan(4000); // did not wait for TF Hub's 5 s timeout
    expect(logs).toContain('.npz URL answered first for koniq; the other probes were cancelled');
  });

  it('records outcomes and, with rank, tries the healthy source first next time', async () => {
    storage.objects.set(BUNDLE, { body: npzBundle(), status: 404 });
    await resolveNamedModel('koniq', options({ order: ['tfhub', 'npz'] }));
    const health = await readHealth({ cacheRoot: join(dir, 'cache') });
    expect(health.tfhub).toMatchObject({ ok: 0, fail: 1, lastOk: false });
    expect(health.npz).toMatchObject({ ok: 1, fail: 0, lastOk: true });
    await rm(join(dir, 'cache', 'models'), { recursive: true });
    logs.length = 0;
    tfhub.requests.length = 0;
    const result = await resolveNamedModel('spaq', options({ order: ['tfhub', 'npz'], rank: true })).catch(() => undefined);
    // spaq's .npz is not on the test bucket; what matters is the order tried.
    expect(result).toBeUndefined();
    expect(logs[0]).toMatch(/^Loading spaq from \.npz URL/);
  });
});

describe('the registry describes what the chain converts', () => {
  async function setup(models: object): Promise<{ config: string; checkpoints: string }> {
    const checkpoints = join(dir, 'ck');
    await mkdir(checkpoints, { recursive: true });
    await copyFile(fixturePath('ckpt_tiny_1class.npz'), join(checkpoints, 'my_ckpt.npz'));
    const config = join(dir, 'sources.json');
    await writeFile(config, JSON.stringify({ checkpointsDir: checkpoints, models }));
    return { config, checkpoints };
  }
  const sidecarFile = async (path: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(`${path}.json`, 'utf8')) as Record<string, unknown>;

  it("a config model's scoreRange goes into the sidecar; a range changed later rewrites the cached sidecar without converting", async () => {
    const { config } = await setup({ 'my-musiq': { local: 'my_ckpt.npz', scoreRange: [-1, 0] } });
    const first = await resolveNamedModel('my-musiq', options({ config }));
    expect(first.source).toBe('local');
    expect(first.sidecar).toMatchObject({ name: 'my-musiq', scoreRange: [-1, 0] });
    expect(await sidecarFile(first.path)).toMatchObject({ name: 'my-musiq', scoreRange: [-1, 0] });

    await writeFile(config, JSON.stringify({ checkpointsDir: join(dir, 'ck'), models: { 'my-musiq': { local: 'my_ckpt.npz', scoreRange: [2, 5] } } }));
    const model = await readFile(first.path);
    logs.length = 0;
    const again = await resolveNamedModel('my-musiq', options({ config }));
    expect(again.source).toBe('cache');
    expect(again.sidecar.scoreRange).toEqual([2, 5]);
    expect(await sidecarFile(first.path)).toMatchObject({ scoreRange: [2, 5] });
    expect(logs).toEqual([`my-musiq: score range 2..5 from the registry replaces -1..0 in ${first.path}.json`]);
    expect(await readFile(first.path)).toEqual(model);
  });

  it("an artifact of another architecture than the entry's fails that source, naming both", async () => {
    const { config } = await setup({ 'my-vila': { architecture: 'vila', local: 'my_ckpt.npz' } });
    await expect(resolveNamedModel('my-vila', options({ config }))).rejects.toThrow(
      /^no source could provide my-vila \(local files: the npz is a MUSIQ model, but my-vila is registered with architecture 'vila'\)$/,
    );
    expect(logs.at(-1)).toBe("⚠ local files failed for my-vila: the npz is a MUSIQ model, but my-vila is registered with architecture 'vila'; no sources left");
    expect(await tree(join(dir, 'cache'))).toEqual([]);
  });

  it('a cached model of another architecture than the entry now says is converted again', async () => {
    const { config } = await setup({ mine: { local: 'my_ckpt.npz' } });
    const first = await resolveNamedModel('mine', options({ config }));
    await writeFile(config, JSON.stringify({ checkpointsDir: join(dir, 'ck'), models: { mine: { architecture: 'vila', local: 'my_ckpt.npz' } } }));
    logs.length = 0;
    await expect(resolveNamedModel('mine', options({ config }))).rejects.toThrow(SourceChainError);
    expect(logs[0]).toBe(`${first.path} is a MUSIQ model, but mine is registered with architecture 'vila'; converting it again`);
  });
});
