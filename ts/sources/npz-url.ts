// The public .npz checkpoints (hub-protocols.md §5): a plain GET (no credentials), resumed with Range after a
// cut, md5 checked when x-goog-hash is sent, written to a partial file renamed into place when complete.
// Kept under <cache>/downloads/<host>/<path> (the original URL's, also when a mirror served it).
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { applyMirror, removeEmptyDirs, type ProbeResult, type Resolver, type SourceContext } from './context.js';
import { displayUrl, downloadFile, probeUrl, SourceError } from './http.js';
import { acquireLock } from './lock.js';
import type { ModelEntry } from './registry.js';

/** Where a URL's download is kept: <cache>/downloads/<host>/<path segments>. */
export function npzDownloadPath(url: string, ctx: Pick<SourceContext, 'cacheRoot'>): string {
  const u = new URL(url);
  const segments = u.pathname.split('/').filter((s) => s && s !== '.' && s !== '..').map((s) => decodeURIComponent(s).replace(/[^A-Za-z0-9._-]/g, '_'));
  if (segments.length === 0) segments.push('download.npz');
  return join(ctx.cacheRoot, 'downloads', u.host.replace(/[^A-Za-z0-9.-]/g, '_'), ...segments);
}

function urlOf(model: ModelEntry): string {
  if (!model.npz) throw new SourceError('not-found', `${model.name} has no .npz checkpoint`);
  return model.npz;
}

export const npzUrlResolver: Resolver = {
  kind: 'npz',
  location(model) {
    return model.npz ?? '';
  },
  async cached(model, ctx) {
    if (!model.npz) return undefined;
    const path = npzDownloadPath(model.npz, ctx);
    return existsSync(path) ? { path, kind: 'npz' } : undefined;
  },
  async fetch(model, ctx) {
    const original = urlOf(model);
    const path = npzDownloadPath(original, ctx);
    const url = applyMirror(original, ctx.mirrors.npz);
    await mkdir(dirname(path), { recursive: true });
    const lock = await acquireLock(`${path}.lock`, {
      pollMs: ctx.lockPollMs,
      signal: ctx.signal,
      onWait: (holder) => ctx.log(`waiting for ${holder}, which is downloading ${displayUrl(url)}`),
    });
    try {
      if (existsSync(path)) return { path, kind: 'npz' };
      const part = `${path}.${lock.uid}.part`;
      let shown = -1;
      await downloadFile(url, part, {
        timeoutMs: ctx.timeoutMs,
        signal: ctx.signal,
        retries: ctx.retries,
        backoffMs: ctx.backoffMs,
        what: displayUrl(url),
        onRetry: (error, n) => ctx.log(`  .npz URL: ${error.message}; retry ${n} of ${ctx.retries}`),
        onProgress: (bytes, total) => {
          if (!total || total < 20e6) return;
          const tenth = Math.floor((10 * bytes) / total);
          if (tenth > shown && tenth < 10) {
            shown = tenth;
            ctx.log(`  downloading ${displayUrl(url)}: ${(bytes / 1e6).toFixed(0)} of ${(total / 1e6).toFixed(0)} MB`);
          }
        },
      });
      await rename(part, path);
      return { path, kind: 'npz' };
    } finally {
      await lock.release();
      if (!existsSync(path)) await removeEmptyDirs(dirname(path), ctx.cacheRoot);
    }
  },
  async discard(artifact, ctx) {
    await rm(artifact.path, { force: true });
    await removeEmptyDirs(dirname(artifact.path), ctx.cacheRoot);
  },
  async probe(model, ctx): Promise<ProbeResult> {
    const url = applyMirror(urlOf(model), ctx.mirrors.npz);
    const result = await probeUrl(url, { timeoutMs: ctx.timeoutMs, signal: ctx.signal, headers: { range: 'bytes=0-0' } });
    const latencyMs = result.latencyMs;
    if (result.status === 200 || result.status === 206) {
      const total = Number(/\/(\d+)$/.exec(result.headers['content-range'] ?? '')?.[1] ?? result.headers['content-length']);
      return { status: 'available', detail: `${displayUrl(result.url)}${total > 1 ? ` (${(total / 1e6).toFixed(1)} MB)` : ''}`, latencyMs };
    }
    if (result.status === 401 || result.status === 403) return { status: 'auth needed', detail: `HTTP ${result.status}`, latencyMs };
    if (result.status === 404 || result.status === 410) return { status: 'not found', detail: `HTTP ${result.status}`, latencyMs };
    return { status: 'unreachable', detail: `HTTP ${result.status}`, latencyMs };
  },
};
