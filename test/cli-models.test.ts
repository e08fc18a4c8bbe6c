// `musiq-native models`: the five published models with the ranges and weights the issue states, plus the
// models a user config adds.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';

const noConfig = { MUSIQ_NATIVE_CONFIG: '', XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'musiq-models-')) };

describe('musiq-native models', () => {
  it('lists the five models with their ranges, direction and default combined weights', async () => {
    const run = await runCli(['models', '--json'], noConfig);
    expect(run.code).toBe(0);
    const rows = JSON.parse(run.stdout) as Array<{ name: string; scoreRange: number[]; better: string; classes: number; combinedWeight: number; sources: string[] }>;
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(Object.keys(byName).sort()).toEqual(['ava', 'koniq', 'paq2piq', 'spaq', 'vila']);
    // Ranges and weights from issue 5: 0–100 for KonIQ/SPAQ/PaQ-2-PiQ, 1–10 for AVA, 0–1 for VILA;
    // weights KonIQ 0.30, SPAQ 0.25, PaQ-2-PiQ 0.20, VILA 0.15, AVA 0.10.
    expect(byName.koniq).toMatchObject({ scoreRange: [0, 100], better: 'higher', classes: 1, combinedWeight: 0.3 });
    expect(byName.spaq).toMatchObject({ scoreRange: [0, 100], combinedWeight: 0.25 });
    expect(byName.paq2piq).toMatchObject({ scoreRange: [0, 100], combinedWeight: 0.2 });
    expect(byName.ava).toMatchObject({ scoreRange: [1, 10], classes: 10, combinedWeight: 0.1 });
    expect(byName.vila).toMatchObject({ scoreRange: [0, 1], combinedWeight: 0.15 });
    // VILA has no public .npz; KonIQ is on TF Hub.
    expect(byName.vila!.sources).not.toContain('.npz URL');
    expect(byName.koniq!.sources).toContain('TF Hub');
  });

  it('prints a table by default and includes a model added by --config', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'musiq-models-')), 'sources.json');
    writeFileSync(config, JSON.stringify({ models: { mine: { npz: 'http://127.0.0.1:9/mine.npz', numClasses: 10 } } }));
    const run = await runCli(['models', '--config', config], noConfig);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^name\s+range\s+better\s+classes\s+weight\s+sources/);
    expect(lines.find((l) => l.startsWith('mine '))).toMatch(/^mine\s+1\.\.10\s+higher\s+10\s+0\.00\s+\.npz URL/);
  });

  it('a config field of the wrong type is a usage error naming the file and the field, not a TypeError', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'musiq-models-')), 'sources.json');
    writeFileSync(config, JSON.stringify({ checkpointsDir: 5 }));
    const run = await runCli(['models', '--config', config], noConfig);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${config}: checkpointsDir must be a folder path, not 5`);
    expect(run.stderr).not.toContain('"path" argument');
  });

  it('a broken config file is a usage error (exit 2) that names the file', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'musiq-models-')), 'sources.json');
    writeFileSync(config, '{ not json');
    const run = await runCli(['models', '--config', config], noConfig);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(config);
  });
});
