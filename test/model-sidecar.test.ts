// A model and its sidecar must belong together: a session is checked against the sidecar when it is created
// (class count, MUSIQ or VILA inputs), and a damaged sidecar is named with the way to repair it. On the command
// line both are setup errors (exit 2) raised before any image is scored.
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertFrom } from '../ts/convert/convert-from.js';
import { resolveModel } from '../ts/runtime/model.js';
import { createModelSession } from '../ts/runtime/session.js';
import { runCli } from './helpers/cli.js';
import { fixturePath } from './helpers/fixtures.js';
import { vilaManifest, vilaPath } from './helpers/vila-fixtures.js';

let dir: string;
const model = (name: string): string => join(dir, `${name}.onnx`);

/** `onnx` with the sidecar of `sidecarOf` next to it, as `name`.onnx. */
async function pair(name: string, onnx: string, sidecarOf: string): Promise<string> {
  await copyFile(model(onnx), model(name));
  await copyFile(`${model(sidecarOf)}.json`, `${model(name)}.json`);
  return model(name);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'musiq-model-sidecar-'));
  await convertFrom(fixturePath('ckpt_tiny_1class.npz'), model('one'), {});
  await convertFrom(fixturePath('ckpt_tiny_10class.npz'), model('ten'), {});
  await convertFrom(vilaPath(vilaManifest.params.file), model('vila'), { name: 'vila' });
});

describe('the session is checked against the sidecar', () => {
  it('accepts matching pairs', async () => {
    for (const name of ['one', 'ten', 'vila']) {
      const { session } = await createModelSession(model(name), { device: 'cpu' });
      await session.release();
    }
  });

  it('refuses a 1-class model with a 10-class sidecar, naming both files', async () => {
    const mixed = await pair('one-as-ten', 'one', 'ten');
    await expect(createModelSession(mixed, { device: 'cpu' })).rejects.toThrow(
      `${mixed} does not match its sidecar ${mixed}.json: the sidecar describes 10 class(es), but the model's 'logits' output has 1; convert the model again`,
    );
  });

  it('refuses a MUSIQ model with a VILA sidecar, and the reverse', async () => {
    const musiq = await pair('musiq-as-vila', 'one', 'vila');
    await expect(createModelSession(musiq, { device: 'cpu' })).rejects.toThrow(
      `${musiq} does not match its sidecar ${musiq}.json: the sidecar describes a VILA-R model (input 'pixels'), but the model's inputs are 'tokens'`,
    );
    const vila = await pair('vila-as-musiq', 'vila', 'one');
    await expect(createModelSession(vila, { device: 'cpu' })).rejects.toThrow(/the sidecar describes a MUSIQ model \(input 'tokens'\), but the model's inputs are 'pixels'/);
  });

  it('score: exit 2 before any image is scored', async () => {
    const mixed = await pair('cli-mixed', 'one', 'vila');
    const run = await runCli(['score', fixturePath('images/chelsea.png'), '--model', mixed, '--device', 'cpu']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`${mixed} does not match its sidecar ${mixed}.json`);
  });
});

describe('a damaged sidecar', () => {
  it('is named, with the way to repair it, and score exits 2', async () => {
    const broken = model('broken');
    await copyFile(model('one'), broken);
    await writeFile(`${broken}.json`, '{bad\n');
    const error = (await resolveModel(broken).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^\S+broken\.onnx\.json, the description of \S+broken\.onnx, is not valid JSON \(.+\): /);
    expect(error.message).toContain(`convert the model again (musiq-native convert --from <checkpoint> --out ${broken}) to rewrite it`);
    const run = await runCli(['score', fixturePath('images/chelsea.png'), '--model', broken, '--device', 'cpu']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${broken}.json, the description of ${broken}, is not valid JSON`);
  });
});
