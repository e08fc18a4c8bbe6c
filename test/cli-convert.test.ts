// `convert` and `inspect` on the command line: an output path that would overwrite the source is a usage error
// (exit 2) that leaves the source untouched; `convert --model --refresh` converts again; `inspect` exits 1 for
// an input it reads but does not recognise.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOutputPath } from '../ts/convert/convert-from.js';
import { runCli } from './helpers/cli.js';
import { fixturePath } from './helpers/fixtures.js';
import { sandboxEnv, sandboxRoot, type SandboxRoot } from './helpers/sandbox.js';
import { makeNpy, makeZip } from './helpers/zip.js';

let root: SandboxRoot;
let dir: string;
beforeAll(async () => {
  root = await sandboxRoot('musiq-cli-convert-');
  dir = await root.caseDir();
});
afterAll(() => root.remove());

const sha256 = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex');

describe('convert refuses an --out that would overwrite its source', () => {
  it('--from a.npz --out a.npz: exit 2, the checkpoint unchanged, nothing written', async () => {
    const npz = join(dir, 'a.npz');
    await copyFile(fixturePath('ckpt_tiny_1class.npz'), npz);
    const before = await sha256(npz);
    const run = await runCli(['convert', '--from', npz, '--out', npz], sandboxEnv(dir));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--out ${npz}: the converted model must be an .onnx file (its description is written to ${npz}.json)`);
    expect(await sha256(npz)).toBe(before);
    expect(existsSync(`${npz}.json`)).toBe(false);
  });

  it('the same file through a link, or a path inside the SavedModel folder being read: exit 2', async () => {
    const model = join(dir, 'm.onnx');
    await writeFile(model, 'an onnx model');
    await symlink(model, join(dir, 'link.onnx'));
    const linked = await runCli(['convert', '--from', model, '--out', join(dir, 'link.onnx')], sandboxEnv(dir));
    expect(linked.code).toBe(2);
    expect(linked.stderr).toContain(`--out ${join(dir, 'link.onnx')} is the source being converted (${model})`);
    expect(await readFile(model, 'utf8')).toBe('an onnx model');

    const savedModel = join(dir, 'koniq-savedmodel');
    await mkdir(savedModel);
    const inside = await runCli(['convert', '--from', savedModel, '--out', join(savedModel, 'koniq.onnx')], sandboxEnv(dir));
    expect(inside.code).toBe(2);
    expect(inside.stderr).toContain(`is inside the source folder ${savedModel}`);
    expect(existsSync(join(savedModel, 'koniq.onnx'))).toBe(false);
  });

  it('checkOutputPath: the sidecar counts as output; a sibling path is fine', () => {
    expect(() => checkOutputPath(join(dir, 'x.onnx.json'), join(dir, 'x.onnx'))).toThrow(/x\.onnx\.json is the source being converted/);
    expect(() => checkOutputPath(join(dir, 'sm'), join(dir, 'sm', 'deeper', 'x.onnx'))).toThrow(/inside the source folder/);
    expect(() => checkOutputPath(join(dir, 'sm'), join(dir, 'sm-model.onnx'))).not.toThrow();
    expect(() => checkOutputPath(join(dir, 'a.npz'), join(dir, 'a.ONNX'))).not.toThrow();
  });
});

describe('convert --model --refresh', () => {
  it('converts again although the models cache holds the model; --refresh without --model is a usage error', async () => {
    const home = await root.caseDir();
    await mkdir(join(home, 'checkpoints'));
    await copyFile(fixturePath('ckpt_tiny_1class.npz'), join(home, 'checkpoints', 'koniq_ckpt.npz'));
    const args = ['convert', '--model', 'koniq', '--offline', '--checkpoints-dir', join(home, 'checkpoints')];
    expect((await runCli(args, sandboxEnv(home))).code).toBe(0);
    const cached = await runCli(args, sandboxEnv(home));
    expect(cached.stderr).toContain('already in the models cache');
    const refreshed = await runCli([...args, '--refresh'], sandboxEnv(home));
    expect(refreshed.code).toBe(0);
    expect(refreshed.stderr).toContain('musiq-native: refresh: converting koniq again, whatever the models cache holds');
    expect(refreshed.stderr).toMatch(/koniq\.onnx from local files \(/);
    const misuse = await runCli(['convert', '--from', 'x.npz', '--out', 'x.onnx', '--refresh'], sandboxEnv(home));
    expect(misuse.code).toBe(2);
    expect(misuse.stderr).toContain('--refresh is for --model');
  });
});

describe('inspect exit codes', () => {
  it('0 for a recognised checkpoint, 1 for one it reads but rejects (NaN values), 2 for an unreadable file', async () => {
    const good = await runCli(['inspect', fixturePath('ckpt_tiny_1class.npz')], sandboxEnv(dir));
    expect(good.code).toBe(0);
    expect(good.stdout).toContain("recognised as: MUSIQ 'ckpt_tiny_1class'");

    const nan = join(dir, 'nan.npz');
    const values = new Uint8Array(Float32Array.of(Number.NaN).buffer);
    await writeFile(nan, makeZip([{ name: 'opt/target/head/bias.npy', data: makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", values) }]));
    const bad = await runCli(['inspect', nan, '--json'], sandboxEnv(dir));
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ kind: 'npz', recognition: { recognised: false } });

    const text = join(dir, 'text.npz');
    await writeFile(text, 'not a zip');
    const unreadable = await runCli(['inspect', text], sandboxEnv(dir));
    expect(unreadable.code).toBe(2);
    expect(unreadable.stderr).toContain('not a readable zip archive');
  });
});
