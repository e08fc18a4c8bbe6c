// Loopback HTTP servers (127.0.0.1, port 0) that behave like the model sources: a storage host (GCS-like:
// x-goog-hash, Range, signed-looking URLs), TF Hub (a redirect chain to the storage host), Kaggle (current
// RPC API and legacy REST paths, 401 without credentials when asked, 302 to signed storage URLs) and the .npz
// bucket (the storage host). Every request is recorded, headers included.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeTarGz } from './tar.js';
import { sharedFixture } from './fixtures.js';

export const TINY_NPZ = readFileSync(sharedFixture('musiq/ckpt_tiny_1class.npz'));
export const TINY_10CLASS_NPZ = readFileSync(sharedFixture('musiq/ckpt_tiny_10class.npz'));

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface TestServer {
  url: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => unknown;

export async function startServer(handler: Handler): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body });
      Promise.resolve(handler(req, res, body)).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on which nothing listens (connection refused). */
export async function refusedUrl(): Promise<string> {
  const server = await startServer(() => undefined);
  await server.close();
  return server.url;
}

/** How the storage host serves one object. */
export interface StoredObject {
  body: Buffer;
  /** Send this md5 in x-goog-hash instead of the real one. */
  md5?: string;
  /** Send no x-goog-hash at all. */
  noHash?: boolean;
  /** Cut the connection after this many bytes of the body (on every request, or the first `truncateTimes`). */
  truncateAt?: number;
  truncateTimes?: number;
  /** Answer with this status instead. */
  status?: number;
  /** Never answer. */
  hang?: boolean;
  /** Wait this long before the body (to make two clients overlap). */
  delayMs?: number;
  /** Hold the answer until this settles (lets a test make two clients overlap deterministically). */
  gate?: Promise<void>;
}

export interface Storage extends TestServer {
  objects: Map<string, StoredObject>;
  /** GETs of one object path (without query), ranged ones included. */
  gets(path: string): RecordedRequest[];
}

export async function startStorage(): Promise<Storage> {
  const objects = new Map<string, StoredObject>();
  const served = new WeakMap<StoredObject, number>(); // per object, so a replaced object starts afresh
  const server = await startServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const object = objects.get(path);
    if (!object) {
      res.statusCode = 404;
      res.end('no such object');
      return;
    }
    if (object.hang) return; // never answers
    if (object.gate) await object.gate;
    if (object.status) {
      res.statusCode = object.status;
      res.end(`status ${object.status}`);
      return;
    }
    const n = (served.get(object) ?? 0) + 1;
    served.set(object, n);
    const total = object.body.length;
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    if (range) start = Number(range[1]);
    const md5 = object.md5 ?? createHash('md5').update(object.body).digest('base64');
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
    if (!object.noHash) headers['x-goog-hash'] = `crc32c=AAAAAA==,md5=${md5}`;
    if (range && start < total) {
      res.writeHead(206, { ...headers, 'content-length': total - start, 'content-range': `bytes ${start}-${total - 1}/${total}` });
    } else {
      start = 0;
      res.writeHead(200, { ...headers, 'content-length': total });
    }
    if (object.delayMs) await new Promise((r) => setTimeout(r, object.delayMs));
    const cut = object.truncateAt !== undefined && (object.truncateTimes === undefined || n <= object.truncateTimes);
    if (cut) {
      res.write(object.body.subarray(start, Math.max(start, object.truncateAt!)));
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    res.end(object.body.subarray(start));
  });
  return {
    ...server,
    objects,
    gets: (p) => server.requests.filter((r) => r.method === 'GET' && new URL(r.url, 'http://x').pathname === p),
  };
}

/** Puts files on the storage host under `prefix`; returns file name → storage path, as startKaggle takes them. */
export function storeFiles(storage: Storage, prefix: string, files: Record<string, Buffer>): Record<string, string> {
  const paths: Record<string, string> = {};
  for (const [name, body] of Object.entries(files)) {
    paths[name] = `${prefix}/${name}`;
    storage.objects.set(paths[name], { body });
  }
  return paths;
}

/**
 * TF Hub: GET <handle path>?tf-hub-format=compressed → 302 to a Kaggle-like page on the same host → 302 to
 * a download path → 302 to the storage host's signed bundle URL (three redirects, as observed after the move
 * to Kaggle).
 */
export async function startTfhub(storage: Storage, bundles: Record<string, string>): Promise<TestServer> {
  return startServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (location: string): void => {
      res.writeHead(302, { location });
      res.end();
    };
    if (url.searchParams.get('tf-hub-format') !== 'compressed') {
      res.statusCode = 400;
      res.end('tf-hub-format=compressed expected');
      return;
    }
    if (url.pathname.startsWith('/hop1/')) return send(`/hop2/${url.pathname.slice(6)}${url.search}`);
    if (url.pathname.startsWith('/hop2/')) {
      const target = bundles[url.pathname.slice(5)];
      return target ? send(`${storage.url}${target}?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature=c2lnbmVk`) : (res.writeHead(404), res.end());
    }
    if (bundles[url.pathname]) return send(`/hop1${url.pathname}${url.search}`);
    res.statusCode = 404;
    res.end('not found');
  });
}

export interface KaggleOptions {
  /** Expected Authorization header; requests without it get 401. Undefined: anonymous allowed. */
  requireAuth?: string;
  /** The current RPC API answers 404 (only the legacy REST paths work). */
  legacyOnly?: boolean;
  /** files per model instance (owner/model/framework/variation) → storage path of each file */
  files: Record<string, Record<string, string>>;
  /** Per instance, the storage path of its bundle archive: the listing then says there is a next page. */
  bundles?: Record<string, string>;
  version?: number;
}

export async function startKaggle(storage: Storage, options: KaggleOptions): Promise<TestServer> {
  const version = options.version ?? 1;
  return startServer((req, res, body) => {
    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (options.requireAuth !== undefined && req.headers.authorization !== options.requireAuth) {
      return json(401, { error: 'Unauthenticated' });
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const signed = (path: string): string => `${storage.url}${path}?GoogleAccessId=x&Expires=1&Signature=c2ln`;
    const listing = (key: string) => ({
      files: Object.keys(options.files[key] ?? {}).map((name) => ({ name })),
      nextPageToken: options.bundles?.[key] ? 'page-2' : '',
    });
    if (url.pathname.startsWith('/v1/models.ModelApiService/')) {
      if (options.legacyOnly) return json(404, { error: 'no such method' });
      const method = url.pathname.split('/').pop();
      const b = JSON.parse(body || '{}') as { ownerSlug: string; modelSlug: string; framework: string; instanceSlug: string; path?: string };
      if (b.framework !== 'MODEL_FRAMEWORK_TENSOR_FLOW_2') return json(400, { error: `framework ${b.framework}` });
      const key = `${b.ownerSlug}/${b.modelSlug}/tensorFlow2/${b.instanceSlug}`;
      const files = options.files[key];
      if (!files) return json(404, { error: 'no such model' });
      if (method === 'GetModelInstance') return json(200, { versionNumber: version });
      if (method === 'ListModelInstanceVersionFiles') return json(200, listing(key));
      if (method === 'DownloadModelInstanceVersion') {
        const target = b.path ? files[b.path] : options.bundles?.[key];
        if (!target) return json(404, { error: 'no such file' });
        res.writeHead(302, { location: signed(target) });
        return res.end();
      }
      return json(404, { error: 'no such method' });
    }
    const legacy = /^\/api\/v1\/models\/([^/]+)\/([^/]+)\/([^/]+)\/([^/]+)\/(.*)$/.exec(url.pathname);
    if (legacy) {
      const [, owner, model, framework, variation, rest] = legacy;
      const key = `${owner}/${model}/${framework}/${variation}`;
      const files = options.files[key];
      if (!files) return json(404, { error: 'no such model' });
      if (rest === 'get') return json(200, { versionNumber: version });
      if (rest === `${version}/files`) return json(200, listing(key));
      const download = new RegExp(`^${version}/download(?:/(.+))?$`).exec(rest!);
      const target = download && (download[1] ? files[decodeURIComponent(download[1])] : options.bundles?.[key]);
      if (target) {
        res.writeHead(302, { location: signed(target) });
        return res.end();
      }
    }
    json(404, { error: 'not found' });
  });
}

/** A tar.gz as TF Hub would send it, with the tiny checkpoint as its payload. */
export function npzBundle(npz: Buffer = TINY_NPZ): Buffer {
  return makeTarGz([
    { name: './', type: '5' },
    { name: './koniq_ckpt.npz', data: npz },
  ]);
}
