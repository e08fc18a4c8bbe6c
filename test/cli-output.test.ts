// `score --output`: nothing the run reads is overwritten, no finished record is lost (not when the output
// folder is deleted during the run, not by --resume), and the file's columns hold every model in it.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertTinyModels, runCli } from './helpers/cli.js';
import { fixturePath } from './helpers/fixtures.js';

let dir: string;
let one: string;
let ten: string;
let photos: string;
const photo = (name: string): string => join(photos, name);
/** Enough small PNGs for a run that lasts a few seconds with --batch-images 1. */
let many: string;
const manyCount = 60;

const recordsIn = (path: string): Array<Record<string, unknown>> =>
  readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'musiq-output-'));
  ({ one, ten } = await convertTinyModels(dir));
  photos = join(dir, 'photos');
  await mkdir(photos);
  await copyFile(fixturePath('images/px_1x1.png'), photo('a.png'));
  await copyFile(fixturePath('images/syn_31x33.png'), photo('b.png'));
  await symlink('photos', join(dir, 'photos-link'));
  const png = await readFile(fixturePath('images/syn_33x31.png'));
  await writeFile(photo('trunc.png'), png.subarray(0, Math.floor(png.length / 2)));
  many = join(dir, 'many');
  await mkdir(many);
  for (let i = 0; i < manyCount; i++) {
    await sharp({ create: { width: 40 + i * 5, height: 30 + i * 3, channels: 3, background: { r: i * 6, g: 100, b: 200 - i * 4 } } })
      .png()
      .toFile(join(many, `img${String(i).padStart(3, '0')}.png`));
  }
});

describe('--output never overwrites a file the run reads', () => {
  // [case, inputs, output, what the message names]
  const cases: Array<[string, () => string[], () => string, () => RegExp]> = [
    ['an input named', () => [photo('a.png'), photo('b.png')], () => photo('a.png'), () => /is the same file as the input .*a\.png/],
    ['an input found in a folder, by another name', () => [photos], () => join(dir, 'photos-link', 'b.png'), () => /photos-link.b\.png is the same file as the input .*photos.b\.png/],
    ['the model', () => [photo('a.png')], () => one, () => /one\.onnx is the same file as the model .*one\.onnx;/],
    ["the model's sidecar", () => [photo('a.png')], () => `${one}.json`, () => /one\.onnx\.json is the same file as the model's sidecar/],
  ];
  it.concurrent.each(cases)('refuses %s, before any work', async (_, inputs, output, message) => {
    const before = readFileSync(output());
    const run = await runCli(['score', ...inputs(), '--model', one, '--output', output()]);
    expect(run.stderr).toMatch(message());
    expect(run.stderr).toMatch(/name another output file/);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toMatch(/running on/); // no session was started
    expect(readFileSync(output()).equals(before)).toBe(true);
    expect(existsSync(`${output()}.partial.jsonl`)).toBe(false);
  });
});

describe('--output when its folder is deleted during the run', () => {
  /** Starts `score many -o <folder>/out.jsonl`, and once a few records are journaled runs `meanwhile`. */
  async function deleteFolderMidRun(name: string, meanwhile: (folder: string) => Promise<void>) {
    const folder = join(dir, name);
    const output = join(folder, 'out.jsonl');
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../ts/cli/main.ts'), 'score', many, '--model', one, '-o', output, '--batch-images', '1'], {
      cwd: join(import.meta.dirname, '..'),
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = new Promise<number | null>((resolve) => child.on('close', resolve));
    const journal = `${output}.partial.jsonl`;
    while (child.exitCode === null && (!existsSync(journal) || recordsIn(journal).length < 3)) await new Promise((r) => setTimeout(r, 20));
    await rm(folder, { recursive: true });
    await meanwhile(folder);
    return { output, code: await code, stderr };
  }

  it('still writes every record, recreating the folder', async () => {
    const run = await deleteFolderMidRun('gone', async () => {});
    expect(run.code, run.stderr).toBe(0);
    expect(recordsIn(run.output)).toHaveLength(manyCount);
    expect(existsSync(`${run.output}.partial.jsonl`)).toBe(false);
  });

  it('says so, exits non-zero and says where the records are, when the output cannot be written', async () => {
    const run = await deleteFolderMidRun('blocked', (folder) => writeFile(folder, 'a file where the folder was'));
    expect(run.code).not.toBe(0);
    const kept = new RegExp(`cannot write --output .*out\\.jsonl \\(\\w+\\); the ${manyCount} record\\(s\\) are in (\\S+) \\(move it to`).exec(run.stderr);
    expect(kept, run.stderr).not.toBeNull();
    expect(recordsIn(kept![1]!)).toHaveLength(manyCount);
    await rm(kept![1]!);
  });
});

describe('--resume keeps every earlier record', () => {
  it('keeps the columns of a model the resumed run does not ask for (csv)', async () => {
    const output = join(dir, 'fewer-models.csv');
    const first = await runCli(['score', photo('a.png'), '--model', `${one},${ten}`, '--format', 'csv', '-o', output]);
    expect(first.code, first.stderr).toBe(0);
    const firstRow = (await readFile(output, 'utf8')).split('\n')[1];
    const resumed = await runCli(['score', photo('a.png'), photo('b.png'), '--model', one, '--format', 'csv', '-o', output, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const [header, ...rows] = (await readFile(output, 'utf8')).trim().split('\n');
    expect(header).toBe('path,one_score,one_normalized,one_tokens,ten_score,ten_normalized,ten_tokens,combined_weighted,combined_median,error');
    expect(rows[0]).toBe(firstRow); // a.png keeps its ten_* and combined cells
    expect(rows[1]).toMatch(new RegExp(`^${photo('b.png')},[-\\d.e]+,[\\d.e]+,\\d+,,,,,,$`)); // b.png: one only
  });

  it('keeps records (an error included) of inputs this run does not name; shape follows each record', async () => {
    const output = join(dir, 'other-inputs.jsonl');
    const first = await runCli(['score', photo('a.png'), photo('trunc.png'), photo('b.png'), '--model', one, '-o', output]);
    expect(first.code).toBe(1);
    const resumed = await runCli(['score', photo('a.png'), fixturePath('images/syn_33x31.png'), '--model', `${one},${ten}`, '-o', output, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const records = recordsIn(output);
    expect(records.map((r) => r.path)).toEqual([photo('a.png'), photo('trunc.png'), photo('b.png'), fixturePath('images/syn_33x31.png')]);
    expect(records[1]!.error).toMatch(/cannot decode/);
    // Top-level model and score on a record with one model, combined on one with several.
    for (const r of records.filter((r) => !r.error)) {
      const models = Object.keys(r.scores as object).length;
      expect(r.model !== undefined, JSON.stringify(r)).toBe(models === 1);
      expect(r.combined !== undefined, JSON.stringify(r)).toBe(models > 1);
    }
    expect(Object.keys(records[0]!.scores as object)).toEqual(['one', 'ten']); // rescored: it lacked ten
    expect(Object.keys(records[2]!.scores as object)).toEqual(['one']); // not named this time: kept as it was
  });
});
