// The record written for each input, and its renderings: JSON lines, CSV, a JSON array, a text table.
import type { ImageScore } from '../runtime/scorer.js';

export type OutputFormat = 'jsonl' | 'csv' | 'json' | 'table';

export interface OutputRecord {
  path: string;
  /** With exactly one model: its name and score, so single-model output reads simply. */
  model?: string;
  score?: number | null;
  scores?: ImageScore['scores'];
  combined?: ImageScore['combined'];
  decode?: string[];
  error?: string;
}

export function resultRecord(path: string, result: ImageScore): OutputRecord {
  const names = Object.keys(result.scores);
  const single = names.length === 1 ? { model: names[0]!, score: result.scores[names[0]!]!.score } : {};
  return {
    path,
    ...single,
    scores: result.scores,
    ...(result.combined ? { combined: result.combined } : {}),
    ...(result.decode.length ? { decode: result.decode } : {}),
  };
}

export function errorRecord(path: string, models: string[], error: Error | string): OutputRecord {
  const message = typeof error === 'string' ? error : error.message;
  return { path, ...(models.length === 1 ? { model: models[0]!, score: null } : {}), error: message };
}

function csvField(value: unknown): string {
  const text = value === undefined || value === null ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * The columns of csv and table output: the models in order, and which of them are demo models. A demo model's
 * numbers are not quality scores, so its rows carry the label jsonl and json records have in `scores.<m>.demo`:
 * a `<m>_note` column in csv (read back by --resume), a `note` column in the table.
 */
export interface Columns {
  models: string[];
  demo: string[];
}

/**
 * The columns of an output file: every model scored in one of its records (in the order first seen, so a file
 * resumed with fewer models keeps the others' columns), then the run's models no record has; a record lacking a
 * model leaves its cells empty.
 */
export function fileColumns(records: OutputRecord[], run: Columns): Columns {
  const models = new Set<string>();
  const demo = new Set(run.demo);
  for (const record of records) {
    for (const [model, score] of Object.entries(record.scores ?? {})) {
      models.add(model);
      if (score.demo) demo.add(model);
    }
  }
  for (const model of run.models) models.add(model);
  return { models: [...models], demo: [...demo] };
}

export function csvColumns({ models, demo }: Columns): string[] {
  const columns = ['path'];
  for (const m of models) columns.push(`${m}_score`, `${m}_normalized`, `${m}_tokens`, ...(demo.includes(m) ? [`${m}_note`] : []));
  if (models.length > 1) columns.push('combined_weighted', 'combined_median');
  return [...columns, 'error'];
}

export function csvHeader(columns: Columns): string {
  return `${csvColumns(columns).map(csvField).join(',')}\n`;
}

export function csvRow(record: OutputRecord, { models, demo }: Columns): string {
  const cells: unknown[] = [record.path];
  for (const m of models) {
    const s = record.scores?.[m];
    cells.push(s?.score, s?.normalized, s?.tokens, ...(demo.includes(m) ? [s?.demo] : []));
  }
  if (models.length > 1) cells.push(record.combined?.weighted, record.combined?.median);
  cells.push(record.error);
  return `${cells.map(csvField).join(',')}\n`;
}

/** Splits one CSV line into fields (quotes and doubled quotes handled). */
export function parseCsvLine(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else field += ch;
  }
  fields.push(field);
  return fields;
}

export function renderTable(records: OutputRecord[], { models, demo }: Columns): string {
  const combined = models.length > 1;
  const header = ['path', ...models, ...(combined ? ['combined'] : []), ...(demo.length ? ['note'] : []), 'error'];
  const rows = records.map((r) => [
    r.path,
    ...models.map((m) => (r.scores?.[m] ? r.scores[m].score.toFixed(3) : '')),
    ...(combined ? [r.combined ? r.combined.weighted.toFixed(3) : ''] : []),
    ...(demo.length ? [[...new Set(demo.map((m) => r.scores?.[m]?.demo).filter(Boolean))].join('; ')] : []),
    r.error ?? '',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: string[]): string => cells.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
  return `${[line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')}\n`;
}

export function render(format: OutputFormat, records: OutputRecord[], columns: Columns): string {
  switch (format) {
    case 'jsonl':
      return records.map((r) => `${JSON.stringify(r)}\n`).join('');
    case 'csv':
      return csvHeader(columns) + records.map((r) => csvRow(r, columns)).join('');
    case 'json':
      return `${JSON.stringify(records, null, 2)}\n`;
    case 'table':
      return renderTable(records, columns);
  }
}
