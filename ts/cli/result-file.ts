// --output FILE: results are journaled line by line to FILE.partial.jsonl (one write per line, so a killed run
// leaves at most one torn line, which is discarded), and FILE itself is written atomically in the chosen
// format when the run ends. --resume reads both back and skips the inputs already scored by every model asked
// for; a file it cannot read as this command's output in that format is refused before anything is written.
// Every record of the file and its journal is kept by --resume; only the inputs this run scores again get new ones.
import { createReadStream, createWriteStream, existsSync, type BigIntStats } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { sidecarPath, writeFileAtomic } from '../convert/convert.js';
import { UsageError } from './output.js';
import { csvColumns, fileColumns, parseCsvLine, render, type Columns, type OutputFormat, type OutputRecord } from './records.js';

export function journalPath(path: string): string {
  return `${path}.partial.jsonl`;
}

const EXPECTED: Record<Exclude<OutputFormat, 'table'>, string> = {
  jsonl: '--format jsonl expects one JSON record per line',
  json: '--format json expects a JSON array of records',
  csv: "--format csv expects score's csv header (path,<model>_score,<model>_normalized,<model>_tokens,...,error) and its rows",
};

/** The refusal for a file --resume cannot take as this command's output: names the file, the line, what was expected. */
function notOurs(file: string, line: number | undefined, problem: string, expected: string): UsageError {
  return new UsageError(`--resume: ${file}${line ? ` line ${line}` : ''}: ${problem}; ${expected} (was it written with another --format, or by another program?)`);
}

function isRecord(value: unknown): value is OutputRecord {
  return typeof value === 'object' && value !== null && typeof (value as OutputRecord).path === 'string' && (value as OutputRecord).path !== '';
}

/** A JSON line as a record, or what is wrong with it. */
function jsonRecord(text: string): OutputRecord | string {
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : 'not a record with a path';
  } catch (error) {
    return `not a JSON record (${(error as Error).message})`;
  }
}

/** The records of a journal's lines (`path` names it in messages). */
async function parseJournal(lines: AsyncIterable<string>, path: string): Promise<OutputRecord[]> {
  const records: OutputRecord[] = [];
  let torn: { line: number; problem: string } | undefined;
  let line = 0;
  for await (const text of lines) {
    // Only the last line can be torn by a killed run (that input is scored again); a bad line before it means
    // the file is not a journal.
    if (torn) throw notOurs(path, torn.line, torn.problem, 'a journal holds one JSON record per line');
    const record = jsonRecord(text);
    line++;
    if (typeof record === 'string') torn = { line, problem: record };
    else records.push(record);
  }
  return records;
}

async function readJournal(path: string): Promise<OutputRecord[]> {
  if (!existsSync(path)) return [];
  return parseJournal(createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity }), path);
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
    const demo = cell(`${model}_note`);
    scores[model] = {
      score: Number(score),
      normalized: Number(cell(`${model}_normalized`)),
      tokens: Number(cell(`${model}_tokens`)),
      nativePatches: 'all',
      ...(demo !== undefined ? { demo } : {}),
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

/** The header's columns when it is one `csvHeader` writes (for whatever models), else undefined. */
function csvHeaderColumns(header: string): string[] | undefined {
  const names = parseCsvLine(header);
  const models = names.filter((c) => c.endsWith('_score')).map((c) => c.slice(0, -'_score'.length));
  const columns: Columns = { models, demo: models.filter((m) => names.includes(`${m}_note`)) };
  return JSON.stringify(csvColumns(columns)) === JSON.stringify(names) ? names : undefined;
}

/** Reads a finished output file back as records, refusing anything this command did not write in `format`. */
async function readFinished(file: string, format: keyof typeof EXPECTED): Promise<OutputRecord[]> {
  if (!existsSync(file)) return [];
  const text = await readFile(file, 'utf8');
  switch (format) {
    case 'jsonl':
      return text.split('\n').flatMap((line, i) => {
        const record = line ? jsonRecord(line) : undefined;
        if (typeof record === 'string') throw notOurs(file, i + 1, record, EXPECTED.jsonl);
        return record ? [record] : [];
      });
    case 'json': {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        const at = /at position (\d+)/.exec((error as Error).message);
        const line = at ? text.slice(0, Number(at[1])).split('\n').length : undefined;
        throw notOurs(file, line, `not valid JSON (${(error as Error).message})`, EXPECTED[format]);
      }
      if (!Array.isArray(value)) throw notOurs(file, undefined, 'not a JSON array', EXPECTED[format]);
      const bad = value.findIndex((r) => !isRecord(r));
      if (bad >= 0) throw notOurs(file, undefined, `element ${bad} is not a record with a path`, EXPECTED[format]);
      return value as OutputRecord[];
    }
    case 'csv': {
      const [header = '', ...rows] = text.split('\n');
      const columns = csvHeaderColumns(header);
      if (!columns) throw notOurs(file, 1, `header '${header.slice(0, 80)}' is not score's`, EXPECTED[format]);
      return rows.flatMap((row, i) => {
        if (!row) return [];
        const cells = parseCsvLine(row);
        const record = csvRecord(columns, cells);
        if (cells.length !== columns.length || !record.path) throw notOurs(file, i + 2, `not a row of ${columns.length} cells with a path`, EXPECTED[format]);
        return [record];
      });
    }
  }
}

/**
 * Checks --output FILE before any work (not a folder, in a folder that exists or can be made, and where the
 * journal can be created) and, with --resume, returns the records earlier runs left in FILE and its journal.
 */
export async function prepareOutput(file: string, format: OutputFormat, resume: boolean): Promise<OutputRecord[]> {
  if ((await stat(file).catch(() => undefined))?.isDirectory()) throw new UsageError(`--output ${file}: is a folder; name a file in it`);
  try {
    await mkdir(dirname(file), { recursive: true });
    // Creating the journal is the test that counts: a writable-looking folder can still refuse new files (/proc,
    // a read-only mount seen by root). Opened to append, an existing journal is left as it is.
    const existed = existsSync(journalPath(file));
    await (await open(journalPath(file), 'a')).close();
    if (!existed) await rm(journalPath(file), { force: true });
  } catch (error) {
    throw new UsageError(`--output ${file}: cannot write in ${dirname(file)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  if (!resume) {
    // A journal left by an interrupted run is the only copy of its records: never truncate it unasked.
    if (((await stat(journalPath(file)).catch(() => undefined))?.size ?? 0) > 0) {
      throw new UsageError(`--output ${file}: ${journalPath(file)} holds the records of an interrupted run; add --resume to keep them, or delete it to start over`);
    }
    return [];
  }
  if (format === 'table') throw new UsageError('--resume cannot read a table; use --format jsonl, csv or json');
  return [...(await readFinished(file, format)), ...(await readJournal(journalPath(file)))];
}

const identity = (info: BigIntStats): string => `${info.dev}:${info.ino}`;

/** The identity of an existing file (a symlink or hard link to it has the same), else undefined. */
async function fileId(path: string): Promise<string | undefined> {
  const info = await stat(path, { bigint: true }).catch(() => undefined);
  return info?.isFile() ? identity(info) : undefined;
}

/**
 * Refuses an --output whose file or journal is a file the run reads (an input, a model, a model's sidecar):
 * the journal and the output would overwrite it. Run once the inputs are collected and the models resolved.
 */
export async function refuseOverwritingReads(file: string, inputs: string[], models: string[]): Promise<void> {
  const written = new Map<string, string>();
  for (const [path, what] of [[file, `--output ${file}`], [journalPath(file), `--output ${file}: its journal ${journalPath(file)}`]] as const) {
    const id = await fileId(path);
    if (id) written.set(id, what);
  }
  if (written.size === 0) return; // neither exists yet, so neither is a file the run reads
  const reads = [
    ...inputs.map((path) => ({ what: 'the input', path })),
    ...models.flatMap((model) => [{ what: 'the model', path: model }, { what: "the model's sidecar", path: sidecarPath(model) }]),
  ];
  for (const { what, path } of reads) {
    const hit = written.get((await fileId(path)) ?? '');
    if (hit) throw new UsageError(`${hit} is the same file as ${what} ${path}; writing there would destroy it: name another output file`);
  }
}

/** One record per path: the latest, in the place of the first (an input rescored because it lacked a model). */
function onePerPath(records: OutputRecord[]): OutputRecord[] {
  return [...new Map(records.map((r) => [r.path, r])).values()];
}

export class ResultFile {
  private constructor(
    readonly path: string,
    private readonly format: OutputFormat,
    private readonly columns: Columns,
    private readonly journal: FileHandle,
    private lines: number,
  ) {}

  /** Paths an earlier run scored with every model of this run (only with resume). */
  readonly done = new Set<string>();

  /**
   * Starts the journal with `previous` (from `prepareOutput`), all of it, whether or not this run's inputs name
   * it; a path scored again replaces its old record. Read-write, so that `finish` reads it back through the handle.
   */
  static async open(path: string, format: OutputFormat, columns: Columns, previous: OutputRecord[]): Promise<ResultFile> {
    const kept = onePerPath(previous);
    // The kept records go into a new journal that replaces the old one only once complete: a run killed while
    // writing it leaves the old journal whole (the handle follows the file through the rename).
    const fresh = `${journalPath(path)}.${process.pid}.tmp`;
    const journal = await open(fresh, 'w+');
    for (const record of kept) await journal.write(`${JSON.stringify(record)}\n`);
    await journal.sync();
    await rename(fresh, journalPath(path));
    const file = new ResultFile(path, format, columns, journal, kept.length);
    // A failed input, or one lacking a model of this run, is scored again.
    for (const r of kept) if (!r.error && columns.models.every((m) => r.scores?.[m])) file.done.add(r.path);
    return file;
  }

  async write(record: OutputRecord): Promise<void> {
    await this.journal.write(`${JSON.stringify(record)}\n`);
    this.lines++;
  }

  /** Records in the journal so far: what an interrupted run leaves for --resume. */
  get journaled(): number {
    return this.lines;
  }

  /**
   * Writes FILE in its format, atomically (recreating its folder if it went away), and removes the journal. The
   * records are read back through the open handle, not by name: if the folder was deleted during the run, the
   * handle still holds them all. If FILE cannot be written, the error says where the records are.
   */
  async finish(): Promise<void> {
    const journal = journalPath(this.path);
    const records = onePerPath(await parseJournal(this.journal.readLines({ start: 0, autoClose: false }), journal));
    try {
      // The columns of every model in the file: records kept from a run with more models keep their scores.
      await writeFileAtomic(this.path, render(this.format, records, fileColumns(records, this.columns)));
    } catch (error) {
      const kept = await this.keepRecords();
      const where = kept === journal ? `are in ${kept}; rerun with --resume` : kept ? `are in ${kept} (move it to ${journal} and rerun with --resume)` : 'could not be saved either';
      throw new Error(`cannot write --output ${this.path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the ${records.length} record(s) ${where}`);
    }
    if (await this.journalIsAt(journal)) await rm(journal);
    await this.journal.close();
  }

  /** Whether `path` still names this run's journal (its folder may have been deleted, or replaced). */
  private async journalIsAt(path: string): Promise<boolean> {
    const [ours, there] = await Promise.all([this.journal.stat({ bigint: true }), fileId(path)]);
    return there === identity(ours);
  }

  /** Where the journal's records can be found after FILE could not be written: the journal, or a copy of it. */
  private async keepRecords(): Promise<string | undefined> {
    if (await this.journalIsAt(journalPath(this.path))) return journalPath(this.path);
    const copy = join(tmpdir(), `musiq-native-${process.pid}-${basename(journalPath(this.path))}`);
    try {
      await pipeline(this.journal.createReadStream({ start: 0, autoClose: false }), createWriteStream(copy, { flags: 'wx' }));
      return copy;
    } catch {
      return undefined;
    }
  }

  async abandon(): Promise<void> {
    await this.journal.close();
  }
}
