// The command line over the sources: `sources` (table and --json, --check against loopback servers, summary
// line and exit code), a --config file that adds a model and reorders sources, mirrors from flag, environment
// and config in that precedence, and `score --model <name>` / `convert --model <name>` resolving through the
// chain into the models cache on first use.
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sourcesStatus, type ModelStatus, type StatusReport } from '../ts/sources/status.js';
import { runCli } from './helpers/cli.js';
import { fixturePath, musiqManifest } from './helpers/fixtures.js';
import { npzBundle, refusedUrl, startKaggle, startStorage, startTfhub, storeFiles, TINY_NPZ, type Storage, type TestServer } from './helpers/hub-servers.js';
import { sandboxEnv, sandboxRoot, tree, type SandboxRoot } from './helpers/sandbox.js';

const KONIQ_HANDLE_PATH = '/google/musiq/koniq-10k/1';
const BUNDLE = '/kaggle-models-data/630/763/bundle/archive.tar.gz';
const KONIQ_NPZ = '/gresearch/musiq/koniq_ckpt.npz';
const MINE_NPZ = '/musiq/mine.npz';
const TOKEN = 'kgat_cli-secret-0123456789';

let storage: Storage;
let tfhub: TestServer;
let kaggle: TestServer;
let refused: string;
let root: SandboxRoot;
let dir: string;

beforeAll(async () => {
  storage = await startStorage();
  tfhub = await startTfhub(storage, { [KONIQ_HANDLE_PATH]: BUNDLE });
  const files = storeFiles(storage, '/kagglesdsdata/models/1119/1331', { 'koniq_ckpt.npz': TINY_NPZ });
  kaggle = await startKaggle(storage, { requireAuth: `Bearer ${TOKEN}`, files: { 'google/musiq/tensorFlow2/koniq-10k': files } });
  refused = await refusedUrl();
  root = await sandboxRoot('musiq-sources-cli-');
});
afterAll(async () => {
  await Promise.all([storage.close(), tfhub.close(), kaggle.close()]);
  await root.remove();
});

beforeEach(async () => {
  dir = await root.caseDir();
  await mkdir(join(dir, 'checkpoints'), { recursive: true });
  storage.objects.set(BUNDLE, { body: npzBundle() });
  storage.objects.set(KONIQ_NPZ, { body: TINY_NPZ });
  storage.objects.set(MINE_NPZ, { body: TINY_NPZ });
  for (const server of [storage, tfhub, kaggle]) server.requests.length = 0;
});

/** Every source pointed at the loopback servers. */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...sandboxEnv(dir),
    MUSIQ_NATIVE_TFHUB_MIRROR: tfhub.url,
    MUSIQ_NATIVE_NPZ_MIRROR: storage.url,
    KAGGLE_API_ENDPOINT: kaggle.url,
    ...extra,
  };
}

/** Sizes as the probe prints them: the Content-Length in MB. */
const mb = (body: Buffer): string => (body.length / 1e6).toFixed(1);

const statuses = (model: ModelStatus): Record<string, string> => Object.fromEntries(model.sources.map((s) => [s.kind, s.status]));

describe('musiq-native sources', () => {
  it('--check --json: per model and source, the status, order and summary; exit 1 when a model has no source', async () => {
    await copyFile(fixturePath('ckpt_tiny_1class.npz'), join(dir, 'checkpoints', 'spaq_ckpt.npz'));
    const run = await runCli(['sources', '--check', '--json', '--model', 'koniq,spaq,vila', '--checkpoints-dir', join(dir, 'checkpoints'), '--source-timeout', '2'], env());
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as StatusReport;
    expect(report).toMatchObject({ checked: true, offline: false, configFile: null });
    expect(report.models.map((m) => m.name)).toEqual(['koniq', 'spaq', 'vila']);
    const [koniq, spaq, vila] = report.models as [ModelStatus, ModelStatus, ModelStatus];
    expect(koniq.order).toEqual(['tfhub', 'kaggle', 'npz', 'local']);
    expect(koniq.converted).toEqual({ status: 'not cached', path: join(dir, 'cache', 'models', 'koniq.onnx') });
    expect(statuses(koniq)).toEqual({ tfhub: 'available', kaggle: 'auth needed', npz: 'available', local: 'not found' });
    expect(statuses(spaq)).toEqual({ tfhub: 'not found', kaggle: 'auth needed', npz: 'not found', local: 'available' });
    expect(statuses(vila)).toEqual({ tfhub: 'not found', kaggle: 'auth needed', local: 'not found', npz: 'not offered' });
    expect([koniq.accessible, spaq.accessible, vila.accessible]).toEqual([true, true, false]);
    expect(koniq.sources[0]).toMatchObject({ kind: 'tfhub', position: 1, format: 'savedmodel', patchCap: 1024, location: 'https://tfhub.dev/google/musiq/koniq-10k/1' });
    // The probe followed TF Hub's redirects to the storage host.
    expect(koniq.sources[0]!.detail).toBe(`${storage.url}${BUNDLE} (${mb(npzBundle())} MB)`);
    expect(koniq.sources.find((s) => s.kind === 'kaggle')!.detail).toMatch(/^authentication required \(HTTP 401; set KAGGLE_API_TOKEN/);
    expect(koniq.sources.find((s) => s.kind === 'npz')).toMatchObject({ position: 3, patchCap: 'all', detail: `${storage.url}${KONIQ_NPZ} (${mb(TINY_NPZ)} MB)` });
    expect(spaq.sources.find((s) => s.kind === 'local')!.detail).toBe(join(dir, 'checkpoints', 'spaq_ckpt.npz'));
    expect(vila.sources.find((s) => s.kind === 'npz')).toEqual({ kind: 'npz', label: '.npz URL', status: 'not offered' });
    expect(report.summary).toEqual({ allAccessible: false, inaccessible: ['vila'], line: '✗ vila has no source known to be accessible' });
    // --check touched the network but downloaded nothing.
    expect(await tree(join(dir, 'cache'))).toEqual(['sources-health.json']);
    expect(await tree(join(dir, 'tfhub'))).toEqual([]);
  });

  it('--check with a Kaggle token: available, the token sent to the API only and printed nowhere', async () => {
    const run = await runCli(['sources', '--check', '--json', '--model', 'koniq', '--source-timeout', '2'], env({ KAGGLE_API_TOKEN: TOKEN }));
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as StatusReport;
    expect(report.models[0]!.sources.find((s) => s.kind === 'kaggle')).toMatchObject({ status: 'available', detail: 'version 1, 1 file' });
    expect(kaggle.requests.map((r) => r.headers.authorization)).toEqual([undefined, `Bearer ${TOKEN}`]);
    for (const r of [...storage.requests, ...tfhub.requests]) expect(r.headers.authorization).toBeUndefined();
    expect(run.stdout + run.stderr).not.toContain(TOKEN);
    expect(report.summary.line).toBe('✓ All models have at least one accessible source');
  });

  it('the table, offline: no request, a row per source, and the summary line last; exit 0', async () => {
    await copyFile(fixturePath('ckpt_tiny_1class.npz'), join(dir, 'checkpoints', 'koniq_ckpt.npz'));
    const run = await runCli(['sources', '--offline', '--model', 'koniq'], env({ MUSIQ_NATIVE_CHECKPOINTS: join(dir, 'checkpoints') }));
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^MODEL +SOURCE +STATUS +FORMAT +PATCHES +WHERE \/ DETAIL$/);
    expect(lines.slice(1, 6).map((l) => l.split(/ {2,}/).slice(0, 3))).toEqual([
      ['koniq', 'models cache', 'not cached'],
      ['', '1. TF Hub', 'unchecked'],
      ['', '2. Kaggle Models', 'unchecked'],
      ['', '3. .npz URL', 'unchecked'],
      ['', '4. local files', 'available'],
    ]);
    expect(lines).toContain('✓ KONIQ      - 4 sources (cache → TF Hub → Kaggle Models → .npz URL → local files); local files available');
    expect(lines.at(-1)).toBe('✓ All models have at least one accessible source');
    expect(storage.requests.length + tfhub.requests.length + kaggle.requests.length).toBe(0);
  });

  it('the table names the models without an accessible source', async () => {
    const run = await runCli(['sources', '--model', 'spaq,vila', '--config', await writeConfig({})], env({ MUSIQ_NATIVE_OFFLINE: '1' }));
    expect(run.code).toBe(1);
    expect(run.stdout.trimEnd().split('\n').at(-1)).toBe('✗ No model has a source known to be accessible');
    const one = await runCli(['sources', '--model', 'vila', '--offline'], env());
    expect(one.stdout.trimEnd().split('\n').at(-1)).toBe('✗ vila has no source known to be accessible');
  });
});

describe('the FALLBACK MECHANISM STATUS summary of a model without sources', () => {
  it('says none is configured, or that the order leaves them all out', async () => {
    const file = await writeConfig({ models: { bare: { description: 'nothing to fetch' }, misordered: { local: 'x.npz', order: ['npz'] } } });
    const run = await runCli(['sources', '--offline', '--model', 'bare,misordered', '--config', file], env());
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('✗ BARE       - no sources configured; no source known to be accessible\n');
    expect(run.stdout).toContain('✗ MISORDERED - no source in the order (it offers local files); no source known to be accessible\n');
    expect(run.stdout).not.toContain('cache → )');
  });
});

async function writeConfig(config: object): Promise<string> {
  const path = join(dir, 'sources.json');
  await writeFile(path, JSON.stringify(config));
  return path;
}

describe('a --config file and mirrors', () => {
  const config = (npzMirror: string) => ({
    mirrors: { npz: npzMirror },
    models: {
      mine: { description: 'a model of my own', npz: `https://weights.example${MINE_NPZ}`, order: ['npz', 'local'] },
      koniq: { order: ['local', 'npz'], tfhub: null },
    },
  });

  it('adds a model and reorders sources; --mirror beats the config file', async () => {
    const file = await writeConfig(config(refused));
    const run = await runCli(['sources', '--config', file, '--check', '--json', '--model', 'mine,koniq', '--mirror', `npz=${storage.url}`], env({ MUSIQ_NATIVE_NPZ_MIRROR: '' }));
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as StatusReport;
    expect(report.configFile).toBe(file);
    const [mine, koniq] = report.models as [ModelStatus, ModelStatus];
    // 'local' is in the configured order, but the model names no local file: it is left out.
    expect(mine).toMatchObject({ name: 'mine', description: 'a model of my own', order: ['npz'], scoreRange: [0, 100], numClasses: 1 });
    expect(mine.sources.find((s) => s.kind === 'npz')).toMatchObject({ status: 'available', position: 1, location: `https://weights.example${MINE_NPZ}`, detail: `${storage.url}${MINE_NPZ} (${mb(TINY_NPZ)} MB)` });
    expect(statuses(mine)).toEqual({ npz: 'available', local: 'not offered', tfhub: 'not offered', kaggle: 'not offered' });
    expect(koniq.order).toEqual(['local', 'npz']);
    // Kaggle is left out of koniq's order: --check does not touch it.
    expect(statuses(koniq)).toEqual({ local: 'not found', npz: 'available', tfhub: 'not offered', kaggle: 'unchecked' });
    const kaggleRow = koniq.sources.find((s) => s.kind === 'kaggle')!;
    expect(kaggleRow.detail).toBe('not in the order');
    expect('position' in kaggleRow).toBe(false);
    expect(kaggle.requests).toHaveLength(0);
    expect(storage.requests.map((r) => r.url)).toEqual(expect.arrayContaining([MINE_NPZ, KONIQ_NPZ]));
  });

  it('the environment beats the config file (in-process)', async () => {
    const file = await writeConfig(config(storage.url));
    const report = await sourcesStatus({ env: env({ MUSIQ_NATIVE_NPZ_MIRROR: refused }), config: file, check: true, models: ['mine'], timeoutSeconds: 2, retries: 0 });
    expect(report.models[0]!.sources[0]).toMatchObject({ kind: 'npz', status: 'unreachable', detail: `connection refused by ${new URL(refused).host}` });
    const fromConfig = await sourcesStatus({ env: env({ MUSIQ_NATIVE_NPZ_MIRROR: '' }), config: file, check: true, models: ['mine'], timeoutSeconds: 2 });
    expect(fromConfig.models[0]!.sources[0]).toMatchObject({ kind: 'npz', status: 'available' });
  });

  it("score normalises by a config model's scoreRange, converted through the chain on first use", async () => {
    await copyFile(fixturePath('ckpt_tiny_1class.npz'), join(dir, 'checkpoints', 'my_ckpt.npz'));
    const file = await writeConfig({ checkpointsDir: join(dir, 'checkpoints'), models: { 'my-musiq': { local: 'my_ckpt.npz', scoreRange: [-1, 0] } } });
    const scored = await runCli(['score', fixturePath('images/chelsea.png'), '--model', 'my-musiq', '--config', file], env());
    expect(scored.code).toBe(0);
    const { score, normalized } = (scored.lines[0] as { scores: Record<string, { score: number; normalized: number }> }).scores['my-musiq']!;
    expect(normalized).toBeCloseTo(Math.min(1, Math.max(0, score + 1)), 6);
    expect(JSON.parse(await readFile(join(dir, 'cache', 'models', 'my-musiq.onnx.json'), 'utf8'))).toMatchObject({ scoreRange: [-1, 0] });
  });

  it('score --model <name> fetches and converts on first use; convert --model then finds it cached', async () => {
    const file = await writeConfig(config(storage.url));
    const image = fixturePath('images/chelsea.png');
    const scored = await runCli(['score', image, '--model', 'mine', '--config', file], env({ MUSIQ_NATIVE_NPZ_MIRROR: '' }));
    expect(scored.code).toBe(0);
    expect(scored.stderr).toContain(`Loading mine from .npz URL: ${storage.url}/musiq/mine.npz (mirror of https://weights.example/musiq/mine.npz)`);
    expect(scored.stderr).toMatch(/✓ mine loaded from \.npz URL \(converted to .*\/cache\/models\/mine\.onnx\)/);
    const expected = musiqManifest.cases.find((c) => c.id === 'chelsea__tiny_1class')!.expected_score;
    expect(scored.lines).toHaveLength(1);
    expect(Math.abs((scored.lines[0]!.score as number) - expected)).toBeLessThanOrEqual(1e-4);
    expect(storage.gets(MINE_NPZ)).toHaveLength(1);
    expect(await tree(join(dir, 'cache'))).toEqual(['downloads/weights.example/musiq/mine.npz', 'models/mine.onnx', 'models/mine.onnx.json', 'sources-health.json']);

    const out = join(dir, 'mine-copy.onnx');
    const converted = await runCli(['convert', '--model', 'mine', '--config', file, '--out', out], env({ MUSIQ_NATIVE_NPZ_MIRROR: '' }));
    expect(converted.code).toBe(0);
    expect(converted.stderr).toMatch(/mine\.onnx already in the models cache/);
    expect(converted.stderr).toContain(`wrote ${out}`);
    expect(storage.gets(MINE_NPZ)).toHaveLength(1);
  });
});
