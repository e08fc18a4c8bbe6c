// TF Hub's compressed protocol (hub-protocols.md §2): GET <handle>?tf-hub-format=compressed without
// credentials, following redirects (tfhub.dev → kaggle.com → a signed storage URL), and a tar stream (gzip or
// plain) extracted as it arrives. Stored in tensorflow_hub's cache layout (§3) so that caches are shared with
// Python: <TFHUB_CACHE_DIR or $TMPDIR/tfhub_modules>/<sha1(handle)>, guarded by <dir>.lock, extracted into
// <dir>.<uid>.tmp, described in <dir>.descriptor.txt, renamed into place on success.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { extractTarStream } from './archive.js';
import { applyMirror, type Artifact, type ProbeResult, type Resolver, type SourceContext } from './context.js';
import { classifyError, displayUrl, googMd5, httpRequest, probeUrl, SourceError, statusError, withRetries } from './http.js';
import { findArtifact, localFingerprint } from './local.js';
import { acquireLock } from './lock.js';
import type { ModelEntry } from './registry.js';

export function tfhubCacheRoot(env: NodeJS.ProcessEnv): string {
  return env.TFHUB_CACHE_DIR || join(tmpdir(), 'tfhub_modules');
}

/** <root>/<sha1 of the handle exactly as given>. */
export function tfhubModuleDir(handle: string, env: NodeJS.ProcessEnv): string {
  return join(tfhubCacheRoot(env), createHash('sha1').update(handle, 'utf8').digest('hex'));
}

/** The handle with tf-hub-format=compressed appended to its query. */
export function compressedUrl(handle: string): string {
  const url = new URL(handle);
  url.searchParams.append('tf-hub-format', 'compressed');
  return url.href;
}

async function nonEmptyDir(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).length > 0;
  } catch {
    return false;
  }
}

function handleOf(model: ModelEntry): string {
  if (!model.tfhub) throw new SourceError('not-found', `${model.name} has no TF Hub handle`);
  return model.tfhub;
}

async function cachedModule(dir: string): Promise<Artifact | undefined> {
  if (!(await nonEmptyDir(dir))) return undefined;
  return findArtifact(dir);
}

/** Downloads and extracts one module into `tmp`; one attempt. */
async function downloadInto(url: string, tmp: string, what: string, ctx: SourceContext): Promise<void> {
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const response = await httpRequest(url, { timeoutMs: ctx.timeoutMs, signal: ctx.signal });
  if (response.status !== 200) throw await statusError(response, what);
  const lengthHeader = response.headers['content-length'];
  const total = lengthHeader !== undefined ? Number(lengthHeader) : undefined;
  const expectedMd5 = googMd5(response.headers);
  const md5 = createHash('md5');
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      md5.update(chunk);
      callback(null, chunk);
    },
  });
  response.body.on('error', (error) => counter.destroy(error));
  response.body.pipe(counter);
  const truncated = (): SourceError => new SourceError('truncated', `truncated body: got ${bytes} of ${total} bytes of ${what}`, { transient: true });
  try {
    await extractTarStream(counter, tmp, {
      signal: ctx.signal,
      onSourceError: (error) => {
        const failure = classifyError(error, response.url, ctx, 'body');
        return failure.kind === 'truncated' && total !== undefined ? truncated() : failure;
      },
    });
  } catch (error) {
    // A stream cut short often shows up as a corrupt gzip: name it for what it is.
    if (total !== undefined && bytes < total && error instanceof SourceError && error.kind === 'archive') throw truncated();
    throw error;
  }
  if (total !== undefined && bytes !== total) throw truncated();
  if (expectedMd5 && md5.digest('base64') !== expectedMd5) {
    throw new SourceError('checksum', `checksum mismatch for ${what}: the md5 does not match x-goog-hash`);
  }
}

export const tfhubResolver: Resolver = {
  kind: 'tfhub',
  location(model) {
    return model.tfhub ?? '';
  },
  async cached(model, ctx) {
    if (!model.tfhub) return undefined;
    return cachedModule(tfhubModuleDir(model.tfhub, ctx.env));
  },
  async fetch(model, ctx) {
    const handle = handleOf(model);
    const dir = tfhubModuleDir(handle, ctx.env);
    const url = compressedUrl(applyMirror(handle, ctx.mirrors.tfhub));
    await mkdir(tfhubCacheRoot(ctx.env), { recursive: true });
    const lock = await acquireLock(`${dir}.lock`, {
      pollMs: ctx.lockPollMs,
      signal: ctx.signal,
      // Another process's extraction in progress: files come and go, so a failed look counts as nothing yet.
      progress: (uid) => localFingerprint(`${dir}.${uid}.tmp`).then((f) => f.size, () => 0),
      onWait: (holder) => ctx.log(`waiting for ${holder}, which is downloading ${handle} into ${dir}`),
    });
    const tmp = `${dir}.${lock.uid}.tmp`;
    try {
      const hit = await cachedModule(dir);
      if (hit) return hit;
      // An empty module folder is a failed download: tensorflow_hub deletes and fetches it again.
      if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
      await withRetries(() => downloadInto(url, tmp, displayUrl(url), ctx), {
        retries: ctx.retries,
        backoffMs: ctx.backoffMs,
        signal: ctx.signal,
        onRetry: (error, n) => ctx.log(`  TF Hub: ${error.message}; retry ${n} of ${ctx.retries}`),
      });
      await writeFile(
        `${dir}.descriptor.txt`,
        `Module: ${handle}\nDownload Time: ${new Date().toISOString()}\nDownloader Hostname: ${hostname()} (PID:${process.pid})\n`,
      );
      await rename(tmp, dir);
      return await findArtifact(dir);
    } finally {
      await rm(tmp, { recursive: true, force: true });
      await lock.release();
    }
  },
  async probe(model, ctx): Promise<ProbeResult> {
    const url = compressedUrl(applyMirror(handleOf(model), ctx.mirrors.tfhub));
    const result = await probeUrl(url, { timeoutMs: ctx.timeoutMs, signal: ctx.signal });
    if (result.status === 200) {
      const size = Number(result.headers['content-length']);
      return { status: 'available', detail: `${displayUrl(result.url)}${size ? ` (${(size / 1e6).toFixed(1)} MB)` : ''}`, latencyMs: result.latencyMs };
    }
    if (result.status === 401 || result.status === 403) return { status: 'auth needed', detail: `HTTP ${result.status}`, latencyMs: result.latencyMs };
    if (result.status === 404 || result.status === 410) return { status: 'not found', detail: `HTTP ${result.status}`, latencyMs: result.latencyMs };
    return { status: 'unreachable', detail: `HTTP ${result.status}`, latencyMs: result.latencyMs };
  },
};
