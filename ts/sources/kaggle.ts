// Kaggle Models (hub-protocols.md §4): the current API (POST https://api.kaggle.com/v1/models.ModelApiService/…)
// with the legacy REST paths (GET https://www.kaggle.com/api/v1/models/…) as fallback; anonymous first, then the
// first credential found (credentials.ts) on 401/403; files listed, then fetched one by one (or the bundle
// archive when the listing has more than one page), each via a redirect to a signed storage URL that never
// sees the Authorization header; md5 from x-goog-hash checked; Range resume. Stored in kagglehub's cache layout
// (§4.6) with its .complete markers, so kagglehub's downloads are reused and ours are reusable by it.
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { extractTarball, safeMemberPath } from './archive.js';
import { removeEmptyDirs, type Artifact, type ProbeResult, type Resolver, type SourceContext } from './context.js';
import { findKaggleCredential, type KaggleCredential } from './credentials.js';
import { downloadFile, requestJson, SourceError, type RequestInit } from './http.js';
import { findArtifact } from './local.js';
import { acquireLock } from './lock.js';
import type { ModelEntry } from './registry.js';

export interface KaggleHandle {
  owner: string;
  model: string;
  framework: string;
  variation: string;
  version?: number;
}

export function parseKaggleHandle(handle: string): KaggleHandle {
  const parts = handle.replace(/^\/+|\/+$/g, '').split('/');
  if ((parts.length !== 4 && parts.length !== 5) || parts.some((p) => !p || p === '.' || p === '..')) {
    throw new SourceError('invalid', `'${handle}' is not a Kaggle model handle (owner/model/framework/variation[/version])`);
  }
  const [owner, model, framework, variation, version] = parts as [string, string, string, string, string?];
  if (version !== undefined && !/^\d+$/.test(version)) throw new SourceError('invalid', `'${handle}': the version must be a number`);
  return { owner, model, framework, variation, version: version === undefined ? undefined : Number(version) };
}

/** kagglehub's enum mapping: "tensorFlow2" → "MODEL_FRAMEWORK_TENSOR_FLOW_2". */
export function frameworkEnum(framework: string): string {
  const snake = framework
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Za-z])(\d)/g, '$1_$2')
    .replace(/[-\s]+/g, '_')
    .toUpperCase();
  return snake.startsWith('MODEL_FRAMEWORK_') ? snake : `MODEL_FRAMEWORK_${snake}`;
}

export function kagglehubCacheRoot(env: NodeJS.ProcessEnv): string {
  return env.KAGGLEHUB_CACHE || join(env.HOME || homedir(), '.cache', 'kagglehub');
}

/** <root>/models/<owner>/<model>/<framework>/<variation>, with the framework spelled as given. */
export function instanceDir(root: string, h: KaggleHandle, framework = h.framework): string {
  return join(root, 'models', h.owner, h.model, framework, h.variation);
}

/** Spellings to look for in a cache: kagglehub keeps the framework as typed (tensorFlow2 vs TensorFlow2). */
function frameworkSpellings(framework: string): string[] {
  return [...new Set([framework, framework.charAt(0).toUpperCase() + framework.slice(1), framework.charAt(0).toLowerCase() + framework.slice(1)])];
}

/** A complete cached version: the `<version>.complete` marker and the version folder. */
async function cachedVersion(root: string, h: KaggleHandle): Promise<string | undefined> {
  for (const framework of frameworkSpellings(h.framework)) {
    const base = instanceDir(root, h, framework);
    let versions: number[];
    if (h.version !== undefined) versions = [h.version];
    else {
      const names = await readdir(base).catch(() => [] as string[]);
      versions = names
        .map((n) => /^(\d+)\.complete$/.exec(n)?.[1])
        .filter((v): v is string => v !== undefined)
        .map(Number)
        .sort((a, b) => b - a);
    }
    for (const version of versions) {
      const dir = join(base, String(version));
      if (existsSync(join(base, `${version}.complete`)) && existsSync(dir)) return dir;
    }
  }
  return undefined;
}

interface FileList {
  files: string[];
  more: boolean;
}

type Api = 'current' | 'legacy';

/** Talks to Kaggle for one handle: picks the API that answers and adds credentials only when asked for. */
class KaggleClient {
  private readonly rpcBase: string;
  private readonly legacyBase: string;
  /** Credentials go only to Kaggle's API host (or KAGGLE_API_ENDPOINT), never to a mirror. */
  private readonly credential: KaggleCredential | undefined;
  private useCredential = false;
  private api: Api | undefined;

  constructor(
    private readonly h: KaggleHandle,
    private readonly ctx: SourceContext,
  ) {
    const mirror = ctx.mirrors.kaggle?.replace(/\/+$/, '');
    const endpoint = ctx.env.KAGGLE_API_ENDPOINT?.replace(/\/+$/, '') || undefined;
    this.rpcBase = mirror ?? endpoint ?? 'https://api.kaggle.com';
    this.legacyBase = mirror ?? endpoint ?? 'https://www.kaggle.com';
    this.credential = mirror ? undefined : findKaggleCredential(ctx.env);
    if (this.credential) for (const secret of this.credential.secrets) if (!ctx.secrets.includes(secret)) ctx.secrets.push(secret);
  }

  private get handleText(): string {
    const { owner, model, framework, variation } = this.h;
    return `${owner}/${model}/${framework}/${variation}`;
  }

  private body(extra: Record<string, unknown> = {}): string {
    const { owner, model, framework, variation } = this.h;
    return JSON.stringify({ ownerSlug: owner, modelSlug: model, framework: frameworkEnum(framework), instanceSlug: variation, ...extra });
  }

  private legacyPath(tail: string): string {
    const { owner, model, framework, variation } = this.h;
    return `${this.legacyBase}/api/v1/models/${[owner, model, framework, variation].map(encodeURIComponent).join('/')}${tail}`;
  }

  private rpc(method: string): string {
    return `${this.rpcBase}/v1/models.ModelApiService/${method}`;
  }

  private init(authorization: string | undefined): RequestInit {
    return { timeoutMs: this.ctx.timeoutMs, signal: this.ctx.signal, authorization };
  }

  /** The status of a 401/403 from Kaggle's API itself; one from a signed storage URL is no question of credentials. */
  private authChallenge(error: unknown): number | undefined {
    if (!(error instanceof SourceError) || (error.status !== 401 && error.status !== 403)) return undefined;
    if (error.url !== undefined) {
      const origin = new URL(error.url).origin;
      if (origin !== new URL(this.rpcBase).origin && origin !== new URL(this.legacyBase).origin) return undefined;
    }
    return error.status;
  }

  /** Anonymous first; on 401/403 once more with the credential (if there is one). */
  private async withAuth<T>(call: (authorization: string | undefined) => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await call(this.useCredential ? this.credential?.authorization : undefined);
      } catch (error) {
        const status = this.authChallenge(error);
        if (status === undefined) throw error;
        if (!this.useCredential && this.credential) {
          this.useCredential = true;
          this.ctx.log(`  Kaggle asked for credentials (HTTP ${status}); using those from ${this.credential.source}`);
          continue;
        }
        if (this.credential) {
          throw new SourceError('auth', `authentication failed with the credentials from ${this.credential.source} (HTTP ${status})`, { status });
        }
        throw new SourceError(
          'auth',
          `authentication required (HTTP ${status}; set KAGGLE_API_TOKEN, or KAGGLE_USERNAME and KAGGLE_KEY, or create ~/.kaggle/kaggle.json)`,
          { status },
        );
      }
    }
  }

  /** The current API, then the legacy one; the first that answers is kept for the rest of the session. */
  private async either<T>(current: (auth?: string) => Promise<T>, legacy: (auth?: string) => Promise<T>): Promise<T> {
    return this.withAuth(async (auth) => {
      if (this.api === 'legacy') return legacy(auth);
      if (this.api === 'current') return current(auth);
      try {
        const result = await current(auth);
        this.api = 'current';
        return result;
      } catch (first) {
        if (!(first instanceof SourceError) || this.authChallenge(first) !== undefined) throw first;
        try {
          const result = await legacy(auth);
          this.api = 'legacy';
          return result;
        } catch (second) {
          if (second instanceof SourceError && this.authChallenge(second) === undefined && second.message !== first.message) {
            throw new SourceError(second.kind, `current API: ${first.message}; legacy API: ${second.message}`, { status: second.status });
          }
          throw second;
        }
      }
    });
  }

  async version(): Promise<number> {
    if (this.h.version !== undefined) return this.h.version;
    const what = `model instance ${this.handleText}`;
    const answer = await this.either(
      (auth) => requestJson<{ versionNumber?: number }>(this.rpc('GetModelInstance'), { ...this.init(auth), method: 'POST', body: this.body(), what }),
      (auth) => requestJson<{ versionNumber?: number }>(this.legacyPath('/get'), { ...this.init(auth), what }),
    );
    if (!Number.isInteger(answer.versionNumber)) throw new SourceError('invalid', `Kaggle gave no version number for ${this.handleText}`);
    return answer.versionNumber!;
  }

  async listFiles(version: number): Promise<FileList> {
    const what = `the file list of ${this.handleText}/${version}`;
    type Page = { files?: Array<{ name?: string }>; nextPageToken?: string };
    const page = await this.either(
      (auth) =>
        requestJson<Page>(this.rpc('ListModelInstanceVersionFiles'), {
          ...this.init(auth),
          method: 'POST',
          body: this.body({ versionNumber: version, pageSize: 25 }),
          what,
        }),
      (auth) => requestJson<Page>(this.legacyPath(`/${version}/files?page_size=25`), { ...this.init(auth), what }),
    );
    const files = (page.files ?? []).map((f) => f.name).filter((n): n is string => typeof n === 'string' && n.length > 0);
    return { files, more: Boolean(page.nextPageToken) };
  }

  /** Downloads one file (`path`) or the whole bundle (no path) into `dest`. */
  async download(version: number, path: string | undefined, dest: string): Promise<void> {
    const what = path ? `${this.handleText}/${version}/${path}` : `the bundle of ${this.handleText}/${version}`;
    const options = { timeoutMs: this.ctx.timeoutMs, signal: this.ctx.signal, retries: this.ctx.retries, backoffMs: this.ctx.backoffMs, what };
    const onRetry = (error: SourceError, n: number): void => this.ctx.log(`  Kaggle: ${error.message}; retry ${n} of ${this.ctx.retries}`);
    await mkdir(dirname(dest), { recursive: true });
    const current = (auth?: string) =>
      downloadFile(this.rpc('DownloadModelInstanceVersion'), dest, {
        ...options,
        method: 'POST',
        body: this.body({ versionNumber: version, ...(path ? { path } : {}) }),
        authorization: auth,
        onRetry,
      });
    const legacy = (auth?: string) =>
      downloadFile(this.legacyPath(`/${version}/download${path ? `/${path.split('/').map(encodeURIComponent).join('/')}` : ''}`), dest, {
        ...options,
        authorization: auth,
        onRetry,
      });
    await this.either(current, legacy);
  }
}

function handleOf(model: ModelEntry): KaggleHandle {
  if (!model.kaggle) throw new SourceError('not-found', `${model.name} has no Kaggle handle`);
  return parseKaggleHandle(model.kaggle);
}

async function fetchVersion(client: KaggleClient, h: KaggleHandle, version: number, ctx: SourceContext): Promise<string> {
  const root = kagglehubCacheRoot(ctx.env);
  const base = instanceDir(root, h);
  const dir = join(base, String(version));
  await mkdir(base, { recursive: true });
  const lock = await acquireLock(`${dir}.lock`, {
    pollMs: ctx.lockPollMs,
    signal: ctx.signal,
    onWait: (holder) => ctx.log(`waiting for ${holder}, which is downloading ${model(h)}/${version}`),
  });
  const tmp = `${dir}.${lock.uid}.tmp`;
  const archive = join(base, `${version}.archive`);
  let ok = false;
  try {
    const hit = await cachedVersion(root, { ...h, version });
    if (hit) return hit;
    const { files, more } = await client.listFiles(version);
    const perFile: string[] = [];
    if (more) {
      // More than one page of files: kagglehub takes the bundle archive instead.
      await client.download(version, undefined, archive);
      await mkdir(tmp, { recursive: true });
      await extractTarball(archive, tmp, { signal: ctx.signal });
    } else {
      if (files.length === 0) throw new SourceError('not-found', `Kaggle lists no files for ${model(h)}/${version}`);
      // File names come from the server: all must stay inside the folder before any is fetched.
      for (const name of files) {
        const relative = safeMemberPath(name);
        if (!relative) throw new SourceError('invalid', `Kaggle listed a file without a name`);
        perFile.push(relative);
      }
      for (const relative of perFile) await client.download(version, relative, join(tmp, relative));
    }
    // A version folder without its marker is an unfinished download (ours or kagglehub's): replace it.
    if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    for (const relative of perFile) {
      const marker = join(base, '.complete', String(version), `${relative}.complete`);
      await mkdir(dirname(marker), { recursive: true });
      await writeFile(marker, '');
    }
    await writeFile(join(base, `${version}.complete`), '');
    ok = true;
    return dir;
  } finally {
    await rm(tmp, { recursive: true, force: true });
    await rm(archive, { force: true });
    await lock.release();
    if (!ok) await removeEmptyDirs(base, root);
  }
}

function model(h: KaggleHandle): string {
  return `${h.owner}/${h.model}/${h.framework}/${h.variation}`;
}

export const kaggleResolver: Resolver = {
  kind: 'kaggle',
  location(entry) {
    return entry.kaggle ?? '';
  },
  async cached(entry, ctx): Promise<Artifact | undefined> {
    if (!entry.kaggle) return undefined;
    const dir = await cachedVersion(kagglehubCacheRoot(ctx.env), parseKaggleHandle(entry.kaggle));
    return dir ? findArtifact(dir) : undefined;
  },
  async fetch(entry, ctx) {
    const h = handleOf(entry);
    const client = new KaggleClient(h, ctx);
    const version = await client.version();
    return findArtifact(await fetchVersion(client, h, version, ctx));
  },
  async probe(entry, ctx): Promise<ProbeResult> {
    const h = handleOf(entry);
    const client = new KaggleClient(h, ctx);
    const started = performance.now();
    try {
      const version = await client.version();
      const { files, more } = await client.listFiles(version);
      return {
        status: 'available',
        detail: `version ${version}, ${files.length}${more ? '+' : ''} file${files.length === 1 ? '' : 's'}`,
        latencyMs: Math.round(performance.now() - started),
      };
    } catch (error) {
      if (error instanceof SourceError && error.kind === 'auth') return { status: 'auth needed', detail: error.message };
      throw error;
    }
  },
};
