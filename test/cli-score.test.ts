import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { fixturePath, musiqManifest } from './helpers/fixtures.js';

let dir: string;
let model: string;
let photos: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'musiq-cli-'));
  model = join(dir, 'tiny.onnx');
  const convert = await runCli(['convert', '--from', fixturePath('ckpt_tiny_1class.npz'), '--out', model, '--name', 'tiny_1class']);
  expect(convert.code, convert.stderr).toBe(0);
  photos = join(dir, 'photos');
  await mkdir(join(photos, 'nested'), { recursive: true });
  await copyFile(fixturePath('images/chelsea.png'), join(photos, 'chelsea.png'));
  await sharp(fixturePath('images/coffee.png')).jpeg({ quality: 90 }).toFile(join(photos, 'nested', 'coffee.jpg'));
  const jpeg = await readFile(join(photos, 'nested', 'coffee.jpg'));
  await writeFile(join(photos, 'truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  await writeFile(join(photos, 'empty.png'), Buffer.alloc(0));
  await writeFile(join(photos, 'notes.jpg'), 'not an image at all\n');
  await writeFile(join(photos, '.hidden.png'), 'hidden files are skipped');
  await writeFile(join(photos, 'readme.txt'), 'skipped: not an image extension');
});

describe('musiq-native score', () => {
  it('scores good files, reports each bad one, goes on, and exits 1', async () => {
    const run = await runCli(['score', photos, '--model', model]);
    expect(run.code).toBe(1);
    const byName = new Map(run.lines.map((l) => [String(l.path).slice(photos.length + 1), l]));
    expect([...byName.keys()].sort()).toEqual(['chelsea.png', 'empty.png', 'nested/coffee.jpg', 'notes.jpg', 'truncated.jpg']);
    const expected = musiqManifest.cases.find((c) => c.id === 'chelsea__tiny_1class')!;
    expect(Math.abs((byName.get('chelsea.png')!.score as number) - expected.expected_score)).toBeLessThanOrEqual(1e-4);
    expect(typeof byName.get('nested/coffee.jpg')!.score).toBe('number');
    for (const bad of ['empty.png', 'notes.jpg', 'truncated.jpg']) {
      expect(byName.get(bad)!.score).toBeNull();
      expect(byName.get(bad)!.error).toMatch(/cannot decode image/);
    }
    expect(run.stderr).toMatch(/readme\.txt: not an image file extension/);
    expect(run.stderr).toMatch(/scored 2 of 5 image\(s\), 3 failed/);
  });

  it('exits 0 when every file is scored, and 2 on a usage error', async () => {
    const ok = await runCli(['score', fixturePath('images/px_1x1.png'), '--model', model]);
    expect(ok.code).toBe(0);
    expect(ok.lines).toHaveLength(1);
    const usage = await runCli(['score', photos]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/Missing required argument: model/);
  });

  it('gives a clear error for a thin image that resizes to zero pixels', async () => {
    const thin = join(dir, 'thin.png');
    await sharp({ create: { width: 1000, height: 2, channels: 3, background: '#808080' } }).png().toFile(thin);
    const run = await runCli(['score', thin, '--model', model]);
    expect(run.code).toBe(1);
    expect(run.lines[0]!.error).toMatch(/thin|output dimensions must be positive/);
  });

  it('names the checkpoint file when conversion fails', async () => {
    const corrupt = join(dir, 'corrupt.npz');
    const whole = await readFile(fixturePath('ckpt_tiny_1class.npz'));
    await writeFile(corrupt, whole.subarray(0, 1000));
    const run = await runCli(['convert', '--from', corrupt, '--out', join(dir, 'x.onnx')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`cannot read ${corrupt}`);
  });
});

describe('the demo model', () => {
  it('is generated on first use with the full-size configuration and labels every line', async () => {
    const cache = join(dir, 'cache');
    const run = await runCli(['score', fixturePath('images/syn_31x33.png'), '--model', 'demo'], { MUSIQ_NATIVE_CACHE: cache });
    expect(run.code, run.stderr).toBe(0);
    const scores = run.lines[0]!.scores as Record<string, { demo?: string }>;
    expect(scores.demo!.demo).toMatch(/not quality scores/);
    expect(Number.isFinite(run.lines[0]!.score)).toBe(true);
    const sidecar = JSON.parse(await readFile(join(cache, 'models', 'demo.onnx.json'), 'utf8'));
    expect(sidecar.config).toMatchObject({ hiddenSize: 384, numLayers: 14, numHeads: 6, mlpDim: 1152 });
  });
});

describe('--output and --resume', () => {
  it('resumes a killed run without rescoring, duplicating or tearing a line', async () => {
    const folder = join(dir, 'many');
    await mkdir(folder);
    const count = 40;
    for (let i = 0; i < count; i++) {
      await sharp({ create: { width: 40 + i * 5, height: 30 + i * 3, channels: 3, background: { r: i * 6, g: 100, b: 200 - i * 4 } } })
        .png()
        .toFile(join(folder, `img${String(i).padStart(3, '0')}.png`));
    }
    const output = join(dir, 'scores.jsonl');
    const journal = `${output}.partial.jsonl`;
    // First run: killed once a few records are journaled.
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../ts/cli/main.ts'), 'score', folder, '--model', model, '--output', output, '--batch-images', '1'], {
      cwd: join(import.meta.dirname, '..'),
      stdio: 'ignore',
    });
    const { existsSync, readFileSync } = await import('node:fs');
    const linesIn = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).length : 0);
    while (linesIn(journal) < 5) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const scoredBefore = linesIn(journal);
    expect(scoredBefore).toBeLessThan(count);
    expect(existsSync(output)).toBe(false); // the output file appears only when a run completes

    const resumed = await runCli(['score', folder, '--model', model, '--output', output, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`resuming: (${scoredBefore}|${scoredBefore - 1}) image\\(s\\) already in`));
    expect(resumed.stderr).toMatch(new RegExp(`scored ${count - scoredBefore}|scored ${count - scoredBefore + 1}`));
    const records = readFileSync(output, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { path: string; score: number });
    expect(records.map((r) => r.path).sort()).toEqual(
      Array.from({ length: count }, (_, i) => join(folder, `img${String(i).padStart(3, '0')}.png`)),
    );
    expect(records.every((r) => Number.isFinite(r.score))).toBe(true);
    expect(existsSync(journal)).toBe(false);
  });

  it('writes csv, json and table formats', async () => {
    const inputs = [fixturePath('images/px_1x1.png'), fixturePath('images/syn_31x33.png')];
    const csv = await runCli(['score', ...inputs, '--model', model, '--format', 'csv']);
    expect(csv.stdout.split('\n')[0]).toBe('path,tiny_1class_score,tiny_1class_normalized,tiny_1class_tokens,error');
    expect(csv.stdout.trim().split('\n')).toHaveLength(3);
    const json = await runCli(['score', ...inputs, '--model', model, '--format', 'json', '--output', join(dir, 'out.json')]);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(await readFile(join(dir, 'out.json'), 'utf8')) as Array<{ path: string }>;
    expect(parsed.map((r) => r.path)).toEqual(inputs);
    const table = await runCli(['score', ...inputs, '--model', model, '--format', 'table']);
    expect(table.stdout.split('\n')[0]).toMatch(/^path\s+tiny_1class\s+error$/);
  });
});
