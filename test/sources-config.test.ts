// The config file's validation: a wrong field is a ConfigError that names the file and the field (the CLI
// turns it into exit 2), never a raw TypeError from deep inside, and never accepted silently.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, mergeRegistry } from '../ts/sources/registry.js';
import { resolveSettings } from '../ts/sources/context.js';
import { sandboxEnv, sandboxRoot, type SandboxRoot } from './helpers/sandbox.js';

let root: SandboxRoot;
beforeAll(async () => {
  root = await sandboxRoot('musiq-config-');
});
afterAll(async () => {
  await root.remove();
});

async function configFile(config: unknown): Promise<{ file: string; env: NodeJS.ProcessEnv }> {
  const dir = await root.caseDir();
  const file = join(dir, 'sources.json');
  await writeFile(file, JSON.stringify(config));
  return { file, env: sandboxEnv(dir) };
}

/** The ConfigError loading this config throws (fails the test if it loads). */
async function configError(config: unknown): Promise<{ message: string; file: string }> {
  const { file, env } = await configFile(config);
  try {
    loadConfig(file, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return { message: (error as Error).message, file };
  }
  throw new Error(`loaded ${JSON.stringify(config)} without an error`);
}

const model = (entry: object): object => ({ models: { mine: { local: 'mine.npz', ...entry } } });

describe('the config file is validated field by field', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['checkpointsDir a number', { checkpointsDir: 5 }, /: checkpointsDir must be a folder path, not 5$/],
    ['checkpointsDir empty', { checkpointsDir: '' }, /: checkpointsDir must be a folder path, not ""$/],
    ['an order item that is not a source', { order: ['npz', 'ftp'] }, /: order: the source order must list some of tfhub, kaggle, npz, local \("ftp" is not one\)$/],
    ['parallel a string', { parallel: 'yes' }, /: parallel must be true or false, not "yes"$/],
    ['rank a number', { rank: 1 }, /: rank must be true or false, not 1$/],
    ['an unknown model field', model({ weight: 0.5 }), /: models\.mine: unknown field 'weight' \(a model has description, architecture, scoreRange, numClasses, tfhub, kaggle, npz, local, patchCaps, order, comment\)$/],
    ['better, which is not configurable', model({ better: 'lower' }), /: models\.mine: unknown field 'better'/],
    ['an unknown architecture', model({ architecture: 'vit' }), /: models\.mine\.architecture must be 'musiq' or 'vila', not "vit"$/],
    ['local a number', model({ local: 5 }), /: models\.mine\.local must be a file name or a list of file names, not 5$/],
    ['local a list with a non-string', model({ local: ['a.npz', 7] }), /: models\.mine\.local must be a file name or a list of file names, not 7$/],
    ['scoreRange reversed', model({ scoreRange: [100, 0] }), /: models\.mine\.scoreRange must be \[low, high\], two numbers with low < high, not \[100,0\]$/],
    ['scoreRange empty interval', model({ scoreRange: [1, 1] }), /: models\.mine\.scoreRange must be \[low, high\]/],
    ['scoreRange of strings', model({ scoreRange: ['0', '1'] }), /: models\.mine\.scoreRange must be \[low, high\]/],
    ['description a number', model({ description: 3 }), /: models\.mine\.description must be a string$/],
    ['patchCaps keyed by an unknown source', model({ patchCaps: { ftp: 'all' } }), /: models\.mine\.patchCaps\.ftp: not a source \(tfhub, kaggle, npz, local\)$/],
    ['a negative patch cap', model({ patchCaps: { npz: -1 } }), /: models\.mine\.patchCaps\.npz must be 'all' or a whole number ≥ 0, not -1$/],
    ['a fractional patch cap', model({ patchCaps: { npz: 1.5 } }), /: models\.mine\.patchCaps\.npz must be 'all' or a whole number ≥ 0, not 1\.5$/],
    ['patchCaps a list', model({ patchCaps: [1024] }), /: models\.mine\.patchCaps must be an object/],
  ];
  for (const [name, config, expected] of cases) {
    it(name, async () => {
      const { message, file } = await configError(config);
      expect(message.startsWith(`${file}: `)).toBe(true);
      expect(message).toMatch(expected);
    });
  }

  it('a bad model name is told what names look like, without a word about demo', async () => {
    const { message, file } = await configError({ models: { '../../etc/passwd': { local: 'x.npz' } } });
    expect(message).toBe(`${file}: models: '../../etc/passwd' is not a model name: letters, digits, '.', '_' and '-', starting with a letter or digit`);
  });

  it("'demo' is refused as taken", async () => {
    const { message, file } = await configError({ models: { demo: { local: 'x.npz' } } });
    expect(message).toBe(`${file}: models.demo: 'demo' is the built-in demo model; give yours another name`);
  });

  it('resolving settings with checkpointsDir: 5 is a ConfigError, not a TypeError about "path"', async () => {
    const { file, env } = await configFile({ checkpointsDir: 5 });
    expect(() => resolveSettings({ config: file, env })).toThrow(ConfigError);
  });

  it('accepts every documented field with valid values', async () => {
    const { file, env } = await configFile({
      order: ['npz', 'local'],
      checkpointsDir: '/data/checkpoints',
      parallel: true,
      rank: false,
      models: {
        koniq: { kaggle: null, local: ['a.npz', 'b.onnx'] },
        mine: { description: 'mine', architecture: 'musiq', scoreRange: [-1, 0], numClasses: 1, local: 'mine.npz', patchCaps: { npz: 'all', local: 0, tfhub: 1024 }, comment: 'why' },
      },
    });
    const registry = mergeRegistry(loadConfig(file, env).config);
    expect(registry.get('mine')).toMatchObject({ scoreRange: [-1, 0], local: ['mine.npz'], patchCaps: { npz: 'all', local: 0, tfhub: 1024 } });
    expect(registry.get('koniq')!.kaggle).toBeUndefined();
  });
});
