// Kaggle Models against a loopback API server and a storage server on another port (the signed URLs it
// redirects to): anonymous first, credentials on 401 (Bearer and Basic, from each place kagglehub reads them),
// current API and legacy REST paths, md5 from x-goog-hash, Range resume, kagglehub's cache layout with its
// .complete markers. After every test: no log line holds a secret and the storage host never saw an
// Authorization header; every failure leaves no half-written file or folder in any cache.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolveNamedModel, type ChainOptions } from '../ts/sources/chain.js';
import { npzBundle, refusedUrl, startKaggle, startStorage, storeFiles, TINY_NPZ, type KaggleOptions, type Storage, type TestServer } from './helpers/hub-servers.js';
import { sandboxEnv, sandboxRoot, tree, type SandboxRoot } from './helpers/sandbox.js';
import { sharedFixture } from './helpers/fixtures.js';

const SAVED_MODEL_DIR = sharedFixture('savedmodel/musiq-tiny-jax2tf');
const SAVED_MODEL: Record<string, Buffer> = Object.fromEntries(
  ['saved_model.pb', 'variables/variables.data-00000-of-00001', 'variables/variables.index'].map((name) => [name, readFileSync(join(SAVED_MODEL_DIR, name))]),
);
const INSTANCE = 'google/musiq/tensorFlow2/koniq-10k';
const FILES_PREFIX = '/kagglesdsdata/models/1119/1331';
const NPZ_PATH = '/gresearch/musiq/koniq_ckpt.npz';
const KAGGLE_CACHE = `models/${INSTANCE}`;
// kagglehub's layout (hub-protocols.md §4.6) after a per-file download of version 1.
const CACHED_VERSION_1 = [
  `${KAGGLE_CACHE}/.complete/1/saved_model.pb.complete`,
  `${KAGGLE_CACHE}/.complete/1/variables/variables.data-00000-of-00001.complete`,
  `${KAGGLE_CACHE}/.complete/1/variables/variables.index.complete`,
  `${KAGGLE_CACHE}/1.complete`,
  `${KAGGLE_CACHE}/1/saved_model.pb`,
  `${KAGGLE_CACHE}/1/variables/variables.data-00000-of-00001`,
  `${KAGGLE_CACHE}/1/variables/variables.index`,
];
// What the models cache holds after the .npz URL stood in for a failed Kaggle source.
const CACHE_AFTER_NPZ = ['downloads/storage.googleapis.com/gresearch/musiq/koniq_ckpt.npz', 'models/koniq.onnx', 'models/koniq.onnx.json', 'sources-health.json'];

const TOKEN = 'kgat_0123456789abcdef-secret';
const USER = 'musiq-user';
const KEY = 'f00dfeedcafe4242secretkey';
const BASIC = `Basic ${Buffer.from(`${USER}:${KEY}`).toString('base64')}`;
const SECRETS = [TOKEN, KEY, BASIC.slice('Basic '.length)];

let storage: Storage;
let kaggle: TestServer | undefined;
let refused: string;
let root: SandboxRoot;
let dir: string;
let logs: string[];
let files: Record<string, string>;

beforeAll(async () => {
  storage = await startStorage();
  refused = await refusedUrl();
  root = await sandboxRoot('musiq-kaggle-');
});
afterAll(async () => {
  await storage.close();
  await root.remove();
});

beforeEach(async () => {
  dir = await root.caseDir();
  logs = [];
  storage.objects.clear();
  storage.requests.length = 0;
  files = storeFiles(storage, FILES_PREFIX, SAVED_MODEL);
  storage.objects.set(NPZ_PATH, { body: TINY_NPZ });
});
afterEach(async () => {
  // Secrets never reach a log line, and the storage host (another origin) never gets the credential.
  for (const line of logs) for (const secret of SECRETS) expect(line).not.toContain(secret);
  for (const request of storage.requests) expect(request.headers.authorization).toBeUndefined();
  await kaggle?.close();
  kaggle = undefined;
});

async function startApi(options: Omit<KaggleOptions, 'files'> & { files?: KaggleOptions['files'] } = {}): Promise<TestServer> {
  kaggle = await startKaggle(storage, { files: { [INSTANCE]: files }, ...options });
  return kaggle;
}

function options(env: NodeJS.ProcessEnv = {}, extra: ChainOptions = {}): ChainOptions {
  return {
    env: { ...sandboxEnv(dir), KAGGLE_API_ENDPOINT: kaggle!.url, ...env },
    log: (line) => logs.push(line),
    mirrors: { tfhub: refused, npz: storage.url },
    order: ['kaggle', 'npz'],
    timeoutSeconds: 2,
    retries: 1,
    backoffMs: 5,
    lockPollMs: 20,
    ...extra,
  };
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** The path part of each request the API server got, with whether it carried the expected header. */
function apiCalls(expected?: string): string[] {
  return kaggle!.requests.map((r) => `${r.method} ${r.url}${r.headers.authorization === undefined ? '' : r.headers.authorization === expected ? ' +auth' : ' +WRONG-AUTH'}`);
}

/** The one fallback line of a run that fell through from Kaggle to the .npz URL. */
function kaggleFailure(): string {
  const failures = logs.filter((l) => l.startsWith('⚠'));
  expect(failures).toHaveLength(1);
  return failures[0]!;
}

describe('Kaggle Models: credentials', () => {
  it('anonymous and asked for credentials: "authentication required", and the chain falls through', async () => {
    await startApi({ requireAuth: `Bearer ${TOKEN}` });
    const result = await resolveNamedModel('koniq', options());
    expect(result.source).toBe('npz');
    expect(result.failures).toEqual([{ kind: 'kaggle', stage: 'source', reason: 'auth', message: expect.stringMatching(/^authentication required \(HTTP 401;/) }]);
    expect(kaggleFailure()).toBe(
      '⚠ Kaggle Models failed for koniq: authentication required (HTTP 401; set KAGGLE_API_TOKEN, or KAGGLE_USERNAME and KAGGLE_KEY, or create ~/.kaggle/kaggle.json); falling back to .npz URL',
    );
    expect(apiCalls()).toEqual(['POST /v1/models.ModelApiService/ListModelInstanceVersionFiles']);
    expect(await tree(join(dir, 'kagglehub'))).toEqual([]);
    expect(await tree(join(dir, 'cache'))).toEqual(CACHE_AFTER_NPZ);
  });

  const variants: Array<{ name: string; header: string; source: string; setup: () => Promise<NodeJS.ProcessEnv> }> = [
    { name: 'KAGGLE_API_TOKEN (Bearer)', header: `Bearer ${TOKEN}`, source: 'KAGGLE_API_TOKEN', setup: async () => ({ KAGGLE_API_TOKEN: TOKEN }) },
    {
      name: 'KAGGLE_API_TOKEN naming a file (Bearer)',
      header: `Bearer ${TOKEN}`,
      source: 'KAGGLE_API_TOKEN',
      setup: async () => {
        await writeFile(join(dir, 'token.txt'), `${TOKEN}\n`);
        return { KAGGLE_API_TOKEN: join(dir, 'token.txt') };
      },
    },
    {
      name: '~/.kaggle/access_token (Bearer)',
      header: `Bearer ${TOKEN}`,
      source: '~/.kaggle/access_token',
      setup: async () => {
        await mkdir(join(dir, 'home/.kaggle'));
        await writeFile(join(dir, 'home/.kaggle/access_token'), TOKEN);
        return {};
      },
    },
    { name: 'KAGGLE_USERNAME + KAGGLE_KEY (Basic)', header: BASIC, source: 'KAGGLE_USERNAME/KAGGLE_KEY', setup: async () => ({ KAGGLE_USERNAME: USER, KAGGLE_KEY: KEY }) },
    {
      name: '~/.kaggle/kaggle.json (Basic)',
      header: BASIC,
      source: '~/.kaggle/kaggle.json',
      setup: async () => {
        await mkdir(join(dir, 'home/.kaggle'));
        await writeFile(join(dir, 'home/.kaggle/kaggle.json'), JSON.stringify({ username: USER, key: KEY }));
        return {};
      },
    },
  ];
  for (const v of variants) {
    it(`${v.name}: retried with the credential, redirected to storage without it, stored in kagglehub's layout`, async () => {
      await startApi({ requireAuth: v.header });
      const result = await resolveNamedModel('koniq', options(await v.setup()));
      expect(result.source).toBe('kaggle');
      expect(result.from).toBe('fetched');
      expect(result.artifact).toEqual({ kind: 'savedmodel', path: join(dir, 'kagglehub', KAGGLE_CACHE, '1') });
      expect(result.sidecar.name).toBe('koniq');
      expect(logs).toContain(`  Kaggle asked for credentials (HTTP 401); using those from ${v.source}`);
      // Anonymous once, then every call with exactly this credential.
      const rpc = '/v1/models.ModelApiService';
      expect(apiCalls(v.header)).toEqual([
        `POST ${rpc}/ListModelInstanceVersionFiles`,
        `POST ${rpc}/ListModelInstanceVersionFiles +auth`,
        ...Object.keys(SAVED_MODEL).map(() => `POST ${rpc}/DownloadModelInstanceVersion +auth`),
      ]);
      expect(kaggle!.requests.slice(2).map((r) => (JSON.parse(r.body) as { path: string }).path)).toEqual(Object.keys(SAVED_MODEL));
      // Each file fetched once from its signed URL on the storage port (checked against x-goog-hash's md5).
      expect(storage.port).not.toBe(kaggle!.port);
      for (const path of Object.values(files)) {
        expect(storage.gets(path)).toHaveLength(1);
        expect(storage.gets(path)[0]!.url).toMatch(/\?GoogleAccessId=x&Expires=1&Signature=/);
      }
      expect(await tree(join(dir, 'kagglehub'))).toEqual(CACHED_VERSION_1);
      for (const [name, body] of Object.entries(SAVED_MODEL)) expect(sha256(await readFile(join(dir, 'kagglehub', KAGGLE_CACHE, '1', name)))).toBe(sha256(body));
      expect(await tree(join(dir, 'cache'))).toEqual(['models/koniq.onnx', 'models/koniq.onnx.json', 'sources-health.json']);
    });
  }

  it('rejected credentials: "authentication failed" naming where they came from, never what they are', async () => {
    await startApi({ requireAuth: 'Bearer the-right-one' });
    const result = await resolveNamedModel('koniq', options({ KAGGLE_USERNAME: USER, KAGGLE_KEY: KEY }));
    expect(result.source).toBe('npz');
    expect(kaggleFailure()).toBe('⚠ Kaggle Models failed for koniq: authentication failed with the credentials from KAGGLE_USERNAME/KAGGLE_KEY (HTTP 401); falling back to .npz URL');
    expect(apiCalls(BASIC)).toEqual(['POST /v1/models.ModelApiService/ListModelInstanceVersionFiles', 'POST /v1/models.ModelApiService/ListModelInstanceVersionFiles +auth']);
    expect(await tree(join(dir, 'kagglehub'))).toEqual([]);
  });

  it('the legacy REST paths when the current API does not answer (Basic credentials)', async () => {
    await startApi({ requireAuth: BASIC, legacyOnly: true });
    const result = await resolveNamedModel('koniq', options({ KAGGLE_USERNAME: USER, KAGGLE_KEY: KEY }));
    expect(result.source).toBe('kaggle');
    const legacy = `/api/v1/models/${INSTANCE}/1`;
    expect(apiCalls(BASIC)).toEqual([
      'POST /v1/models.ModelApiService/ListModelInstanceVersionFiles',
      'POST /v1/models.ModelApiService/ListModelInstanceVersionFiles +auth',
      `GET ${legacy}/files?page_size=25 +auth`,
      ...Object.keys(SAVED_MODEL).map((name) => `GET ${legacy}/download/${name} +auth`),
    ]);
    expect(await tree(join(dir, 'kagglehub'))).toEqual(CACHED_VERSION_1);
  });
});

describe('Kaggle Models: transfers', () => {
  it('an unversioned handle with more than one page of files: GetModelInstance, then the bundle archive', async () => {
    const bundle = '/kaggle-models-data/1119/1331/bundle/archive.tar.gz';
    storage.objects.set(bundle, { body: npzBundle() });
    await startApi({ version: 3, bundles: { [INSTANCE]: bundle } });
    const config = join(dir, 'sources.json');
    await writeFile(config, JSON.stringify({ models: { koniq: { kaggle: INSTANCE } } }));
    const result = await resolveNamedModel('koniq', options({}, { config }));
    expect(result.source).toBe('kaggle');
    expect(result.artifact).toEqual({ kind: 'npz', path: join(dir, 'kagglehub', KAGGLE_CACHE, '3', 'koniq_ckpt.npz') });
    expect(apiCalls().map((c) => c.split('/').pop())).toEqual(['GetModelInstance', 'ListModelInstanceVersionFiles', 'DownloadModelInstanceVersion']);
    expect(JSON.parse(kaggle!.requests[2]!.body)).toEqual({
      ownerSlug: 'google',
      modelSlug: 'musiq',
      framework: 'MODEL_FRAMEWORK_TENSOR_FLOW_2',
      instanceSlug: 'koniq-10k',
      versionNumber: 3,
    });
    // The bundle's marker is <version>.complete; the temporary <version>.archive is gone.
    expect(await tree(join(dir, 'kagglehub'))).toEqual([`${KAGGLE_CACHE}/3.complete`, `${KAGGLE_CACHE}/3/koniq_ckpt.npz`]);
  });

  it('a cut file resumes from the storage URL with Range, without the credential', async () => {
    const data = files['variables/variables.data-00000-of-00001']!;
    storage.objects.set(data, { body: SAVED_MODEL['variables/variables.data-00000-of-00001']!, truncateAt: 1_000_000, truncateTimes: 1 });
    await startApi({ requireAuth: `Bearer ${TOKEN}` });
    const result = await resolveNamedModel('koniq', options({ KAGGLE_API_TOKEN: TOKEN }));
    expect(result.source).toBe('kaggle');
    const gets = storage.gets(data);
    expect(gets).toHaveLength(2);
    expect(gets[0]!.headers.range).toBeUndefined();
    const from = Number(/^bytes=(\d+)-$/.exec(String(gets[1]!.headers.range))?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(1_000_000);
    // The resume went straight to the signed URL: Kaggle's API was asked for the file once.
    expect(kaggle!.requests.filter((r) => r.body.includes('variables.data'))).toHaveLength(1);
    expect(logs.some((l) => /^ {2}Kaggle: truncated body: got \d+ of 2522250 bytes of .*variables\.data-00000-of-00001; retry 1 of 1$/.test(l))).toBe(true);
    expect(sha256(await readFile(join(dir, 'kagglehub', KAGGLE_CACHE, '1/variables/variables.data-00000-of-00001')))).toBe(
      sha256(SAVED_MODEL['variables/variables.data-00000-of-00001']!),
    );
  });

  const failures: Array<{ name: string; setup: () => KaggleOptions['files'] | void; line: string | RegExp; storageGets?: number }> = [
    {
      name: 'a wrong md5 in x-goog-hash is a checksum mismatch',
      setup: () => void storage.objects.set(files['variables/variables.index']!, { body: SAVED_MODEL['variables/variables.index']!, md5: 'AAAAAAAAAAAAAAAAAAAAAA==' }),
      line: new RegExp(`^checksum mismatch for ${INSTANCE}/1/variables/variables\\.index: md5 [A-Za-z0-9+/]{22}==, x-goog-hash says A{22}==$`),
    },
    {
      // The signed URL is asked for afresh once (it may have expired); a lasting 403 is no matter of credentials.
      name: 'a signed URL refused with 403 twice is an HTTP failure, not an authentication one',
      setup: () => void storage.objects.set(files['saved_model.pb']!, { body: SAVED_MODEL['saved_model.pb']!, status: 403 }),
      line: `HTTP 403 Forbidden for ${INSTANCE}/1/saved_model.pb`,
      storageGets: 2,
    },
    {
      name: 'a storage timeout',
      setup: () => void storage.objects.set(files['variables/variables.index']!, { body: SAVED_MODEL['variables/variables.index']!, hang: true }),
      line: /^timeout: no response from 127\.0\.0\.1:\d+ after 0\.3 s$/,
    },
    {
      name: "a listed file name with '..' is refused before anything is fetched",
      setup: () => ({ [INSTANCE]: { 'saved_model.pb': files['saved_model.pb']!, '../../evil.pb': files['saved_model.pb']! } }),
      line: "archive member '../../evil.pb' points outside the destination ('..')",
    },
  ];
  for (const f of failures) {
    it(`${f.name}; the chain falls through and no cache keeps anything half-written`, async () => {
      const listed = f.setup();
      await startApi({ requireAuth: `Bearer ${TOKEN}`, ...(listed ? { files: listed } : {}) });
      const result = await resolveNamedModel('koniq', options({ KAGGLE_API_TOKEN: TOKEN }, { timeoutSeconds: 0.3, retries: 1 }));
      expect(result.source).toBe('npz');
      expect(result.failures).toHaveLength(1);
      if (typeof f.line === 'string') expect(result.failures[0]!.message).toBe(f.line);
      else expect(result.failures[0]!.message).toMatch(f.line);
      expect(kaggleFailure()).toBe(`⚠ Kaggle Models failed for koniq: ${result.failures[0]!.message}; falling back to .npz URL`);
      if (f.storageGets) expect(storage.gets(files['saved_model.pb']!)).toHaveLength(f.storageGets);
      expect(await tree(join(dir, 'kagglehub'))).toEqual([]);
      expect(await tree(join(dir, 'tfhub'))).toEqual([]);
      expect(await tree(join(dir, 'cache'))).toEqual(CACHE_AFTER_NPZ);
    });
  }
});
