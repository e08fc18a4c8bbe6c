// --output FILE: results are journaled line by line to FILE.partial.jsonl (one write per line, so a killed run
// leaves at most one torn line, which is discarded), and FILE itself is written atomically in the chosen
// format when the run ends. --resume reads both back and skips the inputs already scored.
import { createReadStream, existsSync } from 'node:fs';
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { writeFileAtomic } from '../convert/convert.js';
import { parseCsvLine, render, type OutputFormat, type OutputRecord } from './records.js';

export function journalPath(path: string): string {
  return `${path}.partial.jsonl`;
}

async function readJournal(path: string): Promise<OutputRecord[]> {
  if (!existsSync(path)) return [];
  const records: OutputRecord[] = [];
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    try {
      records.push(JSON.parse(line) as OutputRecord);
    } catch {
      // A torn last line from a killed run: that input is scored again.
    }
  }
  return records;
}

/** Rebuilds a record from a CSV row written by `csvRow`, so rewriting it gives the same row. */
function csvRecord(columns: string[], cells: string[]): OutputRecord {
  const cell = (name: string): string | undefined => {
    const i = columns.indexOf(name);
    return i >= 0 && cells[i] !== '' ? cells[i] : undefined;
  };
  const scores: NonNullable<OutputRecord['scores']> = {};
  for (const column of columns.filter((c) => c.endsWith('_score'))) {
    const model = column.slice(0, -'_score'.length);
    const score = cell(column);
    if (score === undefined) continue;
    scores[model] = {
      score: Number(score),
      normalized: Number(cell(`${model}_normalized`)),
      tokens: Number(cell(`${model}_tokens`)),
      nativePatches: 'all',
    };
  }
  const weighted = cell('combined_weighted');
  const median = cell('combined_median');
  const error = cell('error');
  return {
    path: cell('path') ?? '',
    ...(Object.keys(scores).length ? { scores } : {}),
    ...(weighted !== undefined && median !== undefined ? { combined: { weighted: Number(weighted), median: Number(median) } } : {}),
    ...(error !== undefined ? { error } : {}),
  };
}

/** Reads a finished output file back: which paths it holds, as records. */
async function readFinished(path: string, format: OutputFormat): Promise<OutputRecord[]> {
  if (!existsSync(path)) return [];
  const text = await readFile(path, 'utf8');
  switch (format) {
    case 'jsonl':
      return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as OutputRecord);
    case 'json':
      return JSON.parse(text) as OutputRecord[];
    case 'csv': {
      const [header, ...rows] = text.split('\n').filter(Boolean);
      const columns = parseCsvLine(header ?? '');
      return rows.map((row) => csvRecord(columns, parseCsvLine(row)));
    }
    case 'table':
      throw new Error('--resume cannot read a table; use --format jsonl, csv or json');
  }
}

export class ResultFile {
  private constructor(
    readonly path: string,
    private readonly format: OutputFormat,
    private readonly models: string[],
    private readonly previous: OutputRecord[],
    private readonly journal: FileHandle,
  ) {}

  /** Paths scored successfully in an earlier run (only with resume). */
  readonly done = new Set<string>();

  static async open(path: string, format: OutputFormat, models: string[], resume: boolean): Promise<ResultFile> {
    let previous: OutputRecord[] = [];
    if (resume) {
      const records = [...(await readFinished(path, format)), ...(await readJournal(journalPath(path)))];
      const seen = new Set<string>();
      // Failed inputs are tried again; each scored path is kept once.
      previous = records.filter((r) => !r.error && !seen.has(r.path) && (seen.add(r.path), true));
    }
    const journal = await open(journalPath(path), 'w');
    for (const record of previous) await journal.write(`${JSON.stringify(record)}\n`);
    const file = new ResultFile(path, format, models, previous, journal);
    previous.forEach((r) => file.done.add(r.path));
    return file;
  }

  async write(record: OutputRecord): Promise<void> {
    await this.journal.write(`${JSON.stringify(record)}\n`);
  }

  /** Writes FILE in its format, atomically, and removes the journal. */
  async finish(): Promise<void> {
    await this.journal.sync();
    await this.journal.close();
    const records = await readJournal(journalPath(this.path));
    const text = render(this.format, records, this.models);
    await writeFileAtomic(this.path, text);
    await rm(journalPath(this.path), { force: true });
  }

  async abandon(): Promise<void> {
    await this.journal.close();
  }

  get previousCount(): number {
    return this.previous.length;
  }
}
