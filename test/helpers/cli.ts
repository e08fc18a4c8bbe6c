// Runs the CLI from source in a child process, as a user would run it.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { sharedFixture } from './shared-fixtures.js';

const ROOT = join(import.meta.dirname, '../..');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: Array<Record<string, unknown>>;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'ts/cli/main.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = !stdout.trimStart().startsWith("{") ? [] : stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, stdout, stderr, lines });
    });
  });
}

/**
 * The two tiny fixture checkpoints converted through the CLI into `dir`, named `one` (1 class) and `ten`
 * (10 classes): small real models for command-line tests.
 */
export async function convertTinyModels(dir: string): Promise<{ one: string; ten: string }> {
  const models = { one: join(dir, 'one.onnx'), ten: join(dir, 'ten.onnx') };
  for (const [ckpt, name] of [['ckpt_tiny_1class.npz', 'one'], ['ckpt_tiny_10class.npz', 'ten']] as const) {
    const run = await runCli(['convert', '--from', sharedFixture(`musiq/${ckpt}`), '--out', models[name], '--name', name]);
    if (run.code !== 0) throw new Error(`converting ${ckpt} failed: ${run.stderr}`);
  }
  return models;
}
