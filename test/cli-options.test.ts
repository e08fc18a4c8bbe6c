// `score` option values are checked at startup: a bad one is a usage error (exit 2) naming its flag, before any
// model session starts or any record is written.
import { availableParallelism, tmpdir } from 'node:os';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseNativePatches, parseWeights, wholeNumber } from '../ts/cli/score-options.js';
import { convertTinyModels, runCli } from './helpers/cli.js';
import { fixturePath } from './helpers/fixtures.js';

let dir: string;
let one: string;
let ten: string;
const image = fixturePath('images/px_1x1.png');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'musiq-options-'));
  ({ one, ten } = await convertTinyModels(dir));
  await writeFile(join(dir, 'a-file'), 'in the way of a folder');
});

describe('score refuses bad option values at startup', () => {
  // One run per flag (each is a process start); the parsers' edge cases are tested in-process below.
  const cases: Array<[string, string[], RegExp]> = [
    ['empty --native-patches', ['--native-patches', ''], /--native-patches: expected 'all'.* not ''/],
    ['--native-patches for a model not run', ['--native-patches', 'one=1024,koniq=all'], /--native-patches: no model named 'koniq'/],
    ['--weights for a model not run', ['--weights', 'one=0.5,koniq=0.5'], /--weights: no model named 'koniq' in this run \(models: one, ten\)/],
    ['all-zero --weights', ['--weights', 'one=0,ten=0'], /--weights: every weight is 0/],
    ['non-numeric --weights', ['--weights', 'one=abc'], /--weights: .*not 'one=abc'/],
    ['too many --threads', ['--threads', '100000'], new RegExp(`--threads: expected a whole number from 1 to ${4 * availableParallelism()}`)],
    ['negative --threads', ['--threads', '-1'], /--threads: .*not '-1'/],
    ['zero --batch-tokens', ['--batch-tokens', '0'], /--batch-tokens: expected a whole number of 1 or more, not '0'/],
    ['fractional --batch-images', ['--batch-images', '2.5'], /--batch-images: .*not '2.5'/],
    ['zero --max-pixels (would turn the limit off)', ['--max-pixels', '0'], /--max-pixels: .*not '0'/],
    ['negative --max-tokens', ['--max-tokens', '-1'], /--max-tokens: .*not '-1'/],
  ];
  it.concurrent.each(cases)('%s', async (_, args, message) => {
    const run = await runCli(['score', image, '--model', `${one},${ten}`, ...args]);
    expect(run.stderr).toMatch(message);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).not.toMatch(/running on/); // no session was started
  });

  it.concurrent('says --model in CLI terms when it names no model', async () => {
    const run = await runCli(['score', image, '--model', '']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--model: name at least one model/);
    expect(run.stderr).not.toMatch(/createScorer/);
  });

  it.concurrent.each([
    ['a folder', () => dir, /--output .*: is a folder/],
    ['inside a file', () => join(dir, 'a-file', 'out.jsonl'), /--output .*a-file.out\.jsonl: cannot write in/],
    ['in a folder that refuses new files (even to root)', () => '/proc/out.jsonl', /--output \/proc\/out\.jsonl: cannot write in \/proc \(\w+\)/],
  ])('checks --output %s before scoring', async (_, output, message) => {
    const run = await runCli(['score', image, '--model', one, '--output', output()]);
    expect(run.stderr).toMatch(message);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toMatch(/running on/);
  });

  it('passes good values on to the scorer', async () => {
    const args = ['--threads', '1', '--batch-tokens', '1000', '--batch-images', '2', '--max-pixels', '1000000', '--max-tokens', '20000'];
    const run = await runCli(['score', image, '--model', `${one},${ten}`, ...args, '--native-patches', 'one=7,ten=all', '--weights', 'one=1,ten=0']);
    expect(run.code, run.stderr).toBe(0);
    const record = run.lines[0] as { scores: Record<string, { normalized: number; nativePatches: unknown }>; combined: { weighted: number } };
    expect(record.scores.one!.nativePatches).toBe(7);
    expect(record.scores.ten!.nativePatches).toBe('all');
    expect(record.combined.weighted).toBeCloseTo(record.scores.one!.normalized, 12);
  });
});

describe('the option parsers', () => {
  it('take decimal whole numbers in range only', () => {
    expect(wholeNumber('x', '12', 1, 12)).toBe(12);
    expect(wholeNumber('x', 5, 1)).toBe(5); // a yargs default arrives as a number
    for (const bad of ['', ' 3', 'abc', '1e3', '0x10', '3.0', '-1', '13', '0']) expect(() => wholeNumber('x', bad, 1, 12), bad).toThrow(/--x:/);
  });

  it('read --native-patches as all, a cap, or per model', () => {
    expect(parseNativePatches('all')).toBe('all');
    expect(parseNativePatches('0')).toBe(0);
    expect(parseNativePatches('1000000')).toBe(1_000_000);
    expect(parseNativePatches('koniq=1024, ava=all')).toEqual({ koniq: 1024, ava: 'all' });
    for (const bad of ['', '0x10', '1e9', '1000001', 'ALL', 'koniq=', 'koniq=1=2', '=5', 'koniq=5,,ava=all', 'koniq=1,koniq=2']) expect(() => parseNativePatches(bad), bad).toThrow(/--native-patches:/);
  });

  it('read --weights as non-negative numbers, not all zero', () => {
    expect(parseWeights('koniq=0.5,ava=.25,spaq=0')).toEqual({ koniq: 0.5, ava: 0.25, spaq: 0 });
    for (const bad of ['', 'koniq', 'koniq=', 'koniq=-1', 'koniq=abc', 'koniq=1e', 'koniq=0x1', 'koniq=Infinity', 'koniq=0,ava=0', 'koniq=1,koniq=2']) expect(() => parseWeights(bad), bad).toThrow(/--weights:/);
  });
});
