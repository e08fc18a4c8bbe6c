import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { fixturePath, musiqManifest } from './helpers/fixtures.js';

let dir: string;
let model: string;
/** A second model (10 classes, named tiny_10class), for runs that change the model set. */
let model10: string;
let photos: string;
/** 40 small PNGs of growing size: a run long enough to interrupt. */
let many: string;
const manyCount = 40;
const manyFile = (i: number): string => join(many, `img${String(i).padStart(3, '0')}.png`);

/** tsx by its path: a run in another folder (`cwd`) would not find the package by name. */
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** The CLI from source in a child process that a test can signal or cut off; resolves with how it ended. */
function startCli(args: string[], cwd = join(import.meta.dirname, '..')) {
  const child = spawn(process.execPath, ['--import', tsx, join(import.meta.dirname, '../ts/cli/main.ts'), ...args], { cwd });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, ended };
}

const linesIn = (path: string): number => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).length : 0);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'musiq-cli-'));
  model = join(dir, 'tiny.onnx');
  const convert = await runCli(['convert', '--from', fixturePath('ckpt_tiny_1class.npz'), '--out', model, '--name', 'tiny_1class']);
  expect(convert.code, convert.stderr).toBe(0);
  model10 = join(dir, 'tiny10.onnx');
  const convert10 = await runCli(['convert', '--from', fixturePath('ckpt_tiny_10class.npz'), '--out', model10, '--name', 'tiny_10class']);
  expect(convert10.code, convert10.stderr).toBe(0);
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
  many = join(dir, 'many');
  await mkdir(many);
  for (let i = 0; i < manyCount; i++) {
    await sharp({ create: { width: 40 + i * 5, height: 30 + i * 3, channels: 3, background: { r: i * 6, g: 100, b: 200 - i * 4 } } })
      .png()
      .toFile(manyFile(i));
  }
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

  it('labels csv and table rows too, and --resume reads its csv back', async () => {
    const env = { MUSIQ_NATIVE_CACHE: join(dir, 'cache') };
    const [a, b] = [fixturePath('images/syn_31x33.png'), fixturePath('images/px_1x1.png')];
    const output = join(dir, 'demo.csv');
    const csv = await runCli(['score', a, '--model', 'demo', '--format', 'csv', '--output', output], env);
    expect(csv.code, csv.stderr).toBe(0);
    const resumed = await runCli(['score', a, b, '--model', 'demo', '--format', 'csv', '--output', output, '--resume'], env);
    expect(resumed.stderr).toMatch(/resuming: 1 image\(s\) already in/);
    const [header, ...rows] = (await readFile(output, 'utf8')).trim().split('\n');
    expect(header).toBe('path,demo_score,demo_normalized,demo_tokens,demo_note,error');
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row).toMatch(/,demo weights \(seeded random\): these numbers are not quality scores,$/);

    const table = await runCli(['score', a, '--model', 'demo', '--format', 'table'], env);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toMatch(/^path\s+demo\s+note\s+error$/);
    expect(lines[2]).toMatch(/not quality scores$/);
  });
});

describe('--output and --resume', () => {
  it('resumes a killed run without rescoring, duplicating or tearing a line', async () => {
    const output = join(dir, 'scores.jsonl');
    const journal = `${output}.partial.jsonl`;
    // First run: killed once a few records are journaled.
    const { child, ended } = startCli(['score', many, '--model', model, '--output', output, '--batch-images', '1']);
    while (linesIn(journal) < 5) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await ended;
    const scoredBefore = linesIn(journal);
    expect(scoredBefore).toBeLessThan(manyCount);
    expect(existsSync(output)).toBe(false); // the output file appears only when a run completes

    // Forgetting --resume does not throw the journal away.
    const journalBefore = readFileSync(journal, 'utf8');
    const forgot = await runCli(['score', many, '--model', model, '--output', output]);
    expect(forgot.code).toBe(2);
    expect(forgot.stderr).toContain(`${journal} holds the records of an interrupted run; add --resume to keep them`);
    expect(readFileSync(journal, 'utf8')).toBe(journalBefore);

    const resumed = await runCli(['score', many, '--model', model, '--output', output, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`resuming: (${scoredBefore}|${scoredBefore - 1}) image\\(s\\) already in`));
    expect(resumed.stderr).toMatch(new RegExp(`scored ${manyCount - scoredBefore}|scored ${manyCount - scoredBefore + 1}`));
    const records = readFileSync(output, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { path: string; score: number });
    expect(records.map((r) => r.path).sort()).toEqual(Array.from({ length: manyCount }, (_, i) => manyFile(i)));
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

describe('--resume refuses what it cannot take as its own output', () => {
  const inputs = () => [fixturePath('images/px_1x1.png'), fixturePath('images/syn_31x33.png')];

  it.each([
    ['a jsonl file resumed as csv', 'jsonl', 'csv', /line 1: header '\{"path".*--format csv expects score's csv header/],
    ['a csv file resumed as jsonl', 'csv', 'jsonl', /line 1: not a JSON record .*--format jsonl expects one JSON record per line/],
    ['a jsonl file resumed as json', 'jsonl', 'json', /not valid JSON .*--format json expects a JSON array/],
  ])('%s: usage error naming the file, file untouched', async (_, written, resumedAs, message) => {
    const output = join(dir, `mixed-${written}-${resumedAs}.out`);
    const first = await runCli(['score', ...inputs(), '--model', model, '--format', written, '--output', output]);
    expect(first.code, first.stderr).toBe(0);
    const before = await readFile(output, 'utf8');
    const run = await runCli(['score', ...inputs(), '--model', model, '--format', resumedAs, '--output', output, '--resume']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--resume: ${output}`);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/resuming|running on/);
    expect(await readFile(output, 'utf8')).toBe(before);
    expect(existsSync(`${output}.partial.jsonl`)).toBe(false);
  });

  it.each([
    ['a foreign csv', 'csv', 'name,value\nx,1\n', /line 1: header 'name,value' is not score's/],
    ['a csv row without a path', 'csv', 'path,tiny_1class_score,tiny_1class_normalized,tiny_1class_tokens,error\n,,,,\n', /line 2: not a row of 5 cells with a path/],
    ['a garbage jsonl file', 'jsonl', '{"path":"a.png","score":1}\ngarbage\n', /line 2: not a JSON record/],
  ])('%s', async (_, format, text, message) => {
    const output = join(dir, `foreign-${format}-${text.length}.out`);
    await writeFile(output, text);
    const run = await runCli(['score', ...inputs(), '--model', model, '--format', format, '--output', output, '--resume']);
    expect(run.stderr).toContain(output);
    expect(run.stderr).toMatch(message);
    expect(run.code).toBe(2);
    expect(await readFile(output, 'utf8')).toBe(text);
  });

  it('resumes its own csv without writing a blank row', async () => {
    const output = join(dir, 'resumed.csv');
    const [a, b] = inputs();
    expect((await runCli(['score', a!, '--model', model, '--format', 'csv', '--output', output])).code).toBe(0);
    const run = await runCli(['score', a!, b!, '--model', model, '--format', 'csv', '--output', output, '--resume']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/resuming: 1 image\(s\) already in/);
    const rows = (await readFile(output, 'utf8')).trim().split('\n');
    expect(rows.map((r) => r.split(',')[0])).toEqual(['path', a, b]);
  });
});

describe('--resume and the model set', () => {
  it('rescores an image that lacks a requested model, and keeps one line per image', async () => {
    const output = join(dir, 'models.jsonl');
    const inputs = [fixturePath('images/px_1x1.png'), fixturePath('images/syn_31x33.png')];
    expect((await runCli(['score', ...inputs, '--model', model, '--output', output])).code).toBe(0);
    const both = await runCli(['score', ...inputs, '--model', `${model},${model10}`, '--output', output, '--resume']);
    expect(both.code, both.stderr).toBe(0);
    expect(both.stderr).toMatch(/scored 2 of 2 image\(s\)/);
    const records = (await readFile(output, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { path: string; scores: object; combined?: object });
    expect(records.map((r) => r.path)).toEqual(inputs);
    for (const r of records) {
      expect(Object.keys(r.scores)).toEqual(['tiny_1class', 'tiny_10class']);
      expect(r.combined).toBeDefined();
    }
    const again = await runCli(['score', ...inputs, '--model', `${model},${model10}`, '--output', output, '--resume']);
    expect(again.stderr).toMatch(/resuming: 2 image\(s\) already in/);
    expect(again.stderr).toMatch(/scored 0 of 0 image\(s\)/);
  });
});

describe('stdout and signals', () => {
  it('stops quietly with 141 when the reader of stdout goes away (| head -1)', async () => {
    const { child, ended } = startCli(['score', many, '--model', model, '--batch-images', '1']);
    child.stdout.destroy(); // every write now fails with EPIPE, as after `head -1` has its line
    const { code, stderr } = await ended;
    expect(stderr).not.toMatch(/EPIPE|Error|terminate|\n\s+at /);
    expect(stderr).not.toMatch(/scored \d+ of/); // the run stopped instead of scoring every file for nobody
    expect(code).toBe(141);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('on %s says how many records the journal keeps, and dies of the signal', async (signal) => {
    const output = join(dir, `interrupted-${signal}.jsonl`);
    const journal = `${output}.partial.jsonl`;
    const { child, ended } = startCli(['score', many, '--model', model, '--output', output, '--batch-images', '1']);
    while (linesIn(journal) < 3) await new Promise((r) => setTimeout(r, 20));
    child.kill(signal);
    const end = await ended;
    expect(end.signal).toBe(signal); // the shell reports 128 + its number, as before
    expect(end.stderr).toContain(`image(s) kept in ${journal}; rerun with --resume`);
    const kept = Number(/interrupted: (\d+) image\(s\) kept in/.exec(end.stderr)?.[1]);
    expect(kept).toBeGreaterThanOrEqual(3);
    expect(kept).toBeLessThanOrEqual(linesIn(journal));
  });
});

describe('inputs', () => {
  it('scores each real file once: symlink loops under a glob, a file named twice, links to one file', async () => {
    const loop = join(dir, 'loop');
    await mkdir(join(loop, 'sub'), { recursive: true });
    await copyFile(fixturePath('images/px_1x1.png'), join(loop, 'a.png'));
    await copyFile(fixturePath('images/syn_31x33.png'), join(loop, 'b.png'));
    await copyFile(fixturePath('images/syn_33x31.png'), join(loop, 'sub', 'c.png'));
    await symlink('..', join(loop, 'sub', 'up'));
    await symlink('../../loop', join(loop, 'sub', 'again'));
    await symlink('a.png', join(loop, 'link-to-a.png'));
    await symlink('missing.png', join(loop, 'sub', 'dangling.png'));

    const globbed = await runCli(['score', `${loop}/**/*.png`, '--model', model]);
    expect(globbed.code, globbed.stderr).toBe(0);
    expect(globbed.lines.map((l) => l.path).sort()).toEqual([join(loop, 'a.png'), join(loop, 'b.png'), join(loop, 'sub', 'c.png')]);

    const named = await runCli(['score', join(loop, 'b.png'), `${loop}/sub/../b.png`, loop, '--model', model]);
    expect(named.code, named.stderr).toBe(0);
    expect(named.lines.map((l) => l.path)).toEqual([join(loop, 'b.png'), join(loop, 'a.png'), join(loop, 'sub', 'c.png')]);
    expect(named.stderr).toContain(`skipped ${join(loop, 'sub', 'dangling.png')}: a symbolic link to nothing`);
  });

  it('refuses - (standard input is not read) instead of scoring nothing', async () => {
    const run = await runCli(['score', '-', '--model', model]);
    expect(run.stderr).toMatch(/reading images from standard input is not supported; name files or folders/);
    expect(run.code).toBe(2);
  });

  it('takes the names after -- as inputs, as they are', async () => {
    const cwd = join(dir, 'dashed');
    await mkdir(cwd);
    for (const name of ['-dash.png', '1e3']) await copyFile(fixturePath('images/px_1x1.png'), join(cwd, name)); // 1e3: not the number 1000
    const run = await startCli(['score', '--model', model, '--', '-dash.png', '1e3'], cwd).ended;
    expect(run.stderr).toMatch(/scored 2 of 2 image\(s\)/);
    expect(run.code).toBe(0);
  });

  it('says when a folder holds no image file', async () => {
    const empty = join(dir, 'no-images');
    await mkdir(empty);
    await writeFile(join(empty, 'notes.txt'), 'not an image');
    const run = await runCli(['score', empty, '--model', model]);
    expect(run.stderr).toContain(`no image files found in: ${empty}`);
    expect(run.code).toBe(0);
  });
});
