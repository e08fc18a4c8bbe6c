// HTTP for the model sources (undici): redirects followed by hand so that Authorization goes only to the
// origin it was meant for, timeouts for connect / headers / each body gap, bounded retries with backoff,
// downloads resumed with Range from the final (post-redirect) URL, md5 from x-goog-hash checked.
// HTTPS_PROXY / HTTP_PROXY / NO_PROXY are honoured when set.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import { PACKAGE_VERSION } from '../version.js';

export const USER_AGENT = `musiq-native/${PACKAGE_VERSION}`;
export const MAX_REDIRECTS = 10;

/** Why a source failed; `reason` phrases are what the fallback log prints. */
export type FailureKind =
  | 'timeout'
  | 'refused'
  | 'unreachable'
  | 'network'
  | 'http'
  | 'auth'
  | 'truncated'
  | 'checksum'
  | 'archive'
  | 'not-found'
  | 'unsupported'
  | 'invalid'
  | 'offline';

export class SourceError extends Error {
  override name = 'SourceError';
  readonly kind: FailureKind;
  readonly status?: number;
  /** The URL that answered with `status` (after redirects): tells a Kaggle 401 from a storage host's 403. */
  readonly url?: string;
  /** Worth retrying: timeouts, resets, truncated bodies, HTTP 5xx / 408 / 429. */
  readonly transient: boolean;
  constructor(kind: FailureKind, message: string, options: { status?: number; url?: string; transient?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.status = options.status;
    this.url = options.url;
    this.transient = options.transient ?? false;
  }
}

export interface HttpSettings {
  /** Connect, headers and body-gap timeout, in milliseconds. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface RequestInit extends HttpSettings {
  method?: 'GET' | 'POST' | 'HEAD';
  headers?: Record<string, string>;
  /** JSON body (POST). */
  body?: string;
  /** Authorization header value: sent to the origin of the first URL only, dropped on redirects elsewhere. */
  authorization?: string;
  maxRedirects?: number;
}

export interface HttpResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** The URL that answered, after redirects. */
  url: string;
  body: Dispatcher.ResponseData['body'];
}

const dispatchers = new Map<number, Dispatcher>();
function dispatcherFor(timeoutMs: number): Dispatcher {
  let dispatcher = dispatchers.get(timeoutMs);
  if (!dispatcher) {
    const env = process.env;
    const proxied = Boolean(env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy);
    const connect = { timeout: timeoutMs };
    dispatcher = proxied ? new EnvHttpProxyAgent({ connect }) : new Agent({ connect });
    dispatchers.set(timeoutMs, dispatcher);
  }
  return dispatcher;
}

/** A URL for messages: origin and path, without the query (signed URLs carry signatures there). */
export function displayUrl(url: string | URL): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return String(url);
  }
}

function errorCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Turns a transport error into a SourceError (or rethrows the caller's abort). */
export function classifyError(error: unknown, url: string | URL, settings: HttpSettings, phase: 'request' | 'body' = 'request'): SourceError {
  if (error instanceof SourceError) return error;
  if (settings.signal?.aborted) throw settings.signal.reason;
  const host = (() => {
    try {
      return new URL(url).host;
    } catch {
      return String(url);
    }
  })();
  const seconds = `${+(settings.timeoutMs / 1000).toFixed(2)} s`;
  const code = errorCode(error);
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return new SourceError('timeout', `timeout connecting to ${host} after ${seconds}`, { transient: true, cause: error });
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new SourceError('timeout', `timeout: no response from ${host} after ${seconds}`, { transient: true, cause: error });
    case 'UND_ERR_BODY_TIMEOUT':
      return new SourceError('timeout', `timeout: ${host} stopped sending for ${seconds}`, { transient: true, cause: error });
    case 'ECONNREFUSED':
      return new SourceError('refused', `connection refused by ${host}`, { cause: error });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return new SourceError('unreachable', `cannot reach ${host} (${code})`, { cause: error });
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return phase === 'body'
        ? new SourceError('truncated', `truncated body: ${host} closed the connection early`, { transient: true, cause: error })
        : new SourceError('network', `connection to ${host} closed (${code})`, { transient: true, cause: error });
    default: {
      const message = error instanceof Error ? error.message : String(error);
      return new SourceError('network', `network error from ${host}: ${message}`, { transient: true, cause: error });
    }
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout',
  410: 'Gone', 416: 'Range Not Satisfiable', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** The SourceError for an unexpected status (the body is discarded). */
export async function statusError(response: HttpResponse, what = ''): Promise<SourceError> {
  await response.body.dump().catch(() => undefined);
  const status = response.status;
  const text = `HTTP ${status}${STATUS_TEXT[status] ? ` ${STATUS_TEXT[status]}` : ''}`;
  const transient = status >= 500 || status === 408 || status === 429;
  const kind = status === 404 || status === 410 ? 'not-found' : 'http';
  return new SourceError(kind, `${text}${what ? ` for ${what}` : ''}`, { status, url: response.url, transient });
}

/** One HTTP exchange, following redirects (at most MAX_REDIRECTS) and returning the final response. */
export async function httpRequest(input: string | URL, init: RequestInit): Promise<HttpResponse> {
  let url = new URL(input);
  const authOrigin = url.origin;
  let method = init.method ?? 'GET';
  let body = init.body;
  const maxRedirects = init.maxRedirects ?? MAX_REDIRECTS;
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...init.headers };
    for (const name of Object.keys(headers)) if (name.toLowerCase() === 'authorization') delete headers[name];
    // The credential goes only where it was meant to: never to a storage host after a redirect.
    if (init.authorization && url.origin === authOrigin) headers.authorization = init.authorization;
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method,
        headers,
        body,
        signal: init.signal,
        headersTimeout: init.timeoutMs,
        bodyTimeout: init.timeoutMs,
        dispatcher: dispatcherFor(init.timeoutMs),
      });
    } catch (error) {
      throw classifyError(error, url, init);
    }
    const flat: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    const status = response.statusCode;
    if ([301, 302, 303, 307, 308].includes(status) && flat.location) {
      await response.body.dump().catch(() => undefined);
      if (hop >= maxRedirects) throw new SourceError('http', `too many redirects (more than ${maxRedirects}) from ${displayUrl(input)}`);
      const next = new URL(flat.location, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new SourceError('http', `redirect to an unsupported URL scheme ${next.protocol}`);
      if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
      }
      url = next;
      continue;
    }
    return { status, headers: flat, url: url.href, body: response.body };
  }
}

/** Calls `attempt` until it succeeds, fails for good, or `retries` transient failures have been retried. */
export async function withRetries<T>(
  attempt: (n: number) => Promise<T>,
  options: { retries: number; backoffMs: number; signal?: AbortSignal; onRetry?: (error: SourceError, n: number) => void },
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!(error instanceof SourceError) || !error.transient || n >= options.retries) throw error;
      options.onRetry?.(error, n + 1);
      await sleep(options.backoffMs * 2 ** n, undefined, { signal: options.signal });
    }
  }
}

/** The md5 of `x-goog-hash: crc32c=…,md5=…` (base64 of the 16-byte digest), if present. */
export function googMd5(headers: Record<string, string>): string | undefined {
  return /(?:^|[,\s])md5=([A-Za-z0-9+/]+=*)/.exec(headers['x-goog-hash'] ?? '')?.[1];
}

export async function md5File(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('base64');
}

async function fileSize(path: string): Promise<number> {
  return (await stat(path).catch(() => undefined))?.size ?? 0;
}

export interface DownloadOptions extends RequestInit {
  retries: number;
  backoffMs: number;
  /** What is being fetched, for messages. */
  what?: string;
  onRetry?: (error: SourceError, n: number) => void;
  /** Called with bytes so far and the total when known. */
  onProgress?: (bytes: number, total: number | undefined) => void;
}

export interface DownloadResult {
  url: string;
  bytes: number;
  md5?: string;
}

/**
 * Downloads `url` into `dest` (a partial file the caller renames on success). Transient failures are retried
 * with backoff; when the server accepts ranges, a retry resumes from the bytes already written by asking the
 * final URL for `Range: bytes=<n>-` (without credentials). A 403 on such a resume means the signed URL
 * expired: the download starts again from `url`. On any failure `dest` is removed.
 */
export async function downloadFile(url: string, dest: string, options: DownloadOptions): Promise<DownloadResult> {
  const what = options.what ?? displayUrl(url);
  let finalUrl: string | undefined;
  let resumable = false;
  let total: number | undefined;
  let md5: string | undefined;
  let reResolved = false;
  await rm(dest, { force: true });
  try {
    await withRetries(
      async () => {
        let have = finalUrl && resumable ? await fileSize(dest) : 0;
        let response: HttpResponse;
        if (have > 0 && finalUrl) {
          response = await httpRequest(finalUrl, { timeoutMs: options.timeoutMs, signal: options.signal, headers: { range: `bytes=${have}-` } });
          const range = /^bytes (\d+)-/.exec(response.headers['content-range'] ?? '');
          if (response.status === 206 && range && Number(range[1]) === have) {
            // resumed
          } else if (response.status === 200) {
            have = 0;
          } else if (response.status === 403 && !reResolved) {
            await response.body.dump().catch(() => undefined);
            reResolved = true;
            finalUrl = undefined;
            throw new SourceError('http', `the signed URL for ${what} expired`, { transient: true, status: 403 });
          } else {
            const error = await statusError(response, what);
            finalUrl = undefined;
            await rm(dest, { force: true });
            throw new SourceError(error.kind, error.message, { status: error.status, transient: true });
          }
        } else {
          response = await httpRequest(url, options);
          if (response.status === 403 && !reResolved && new URL(response.url).origin !== new URL(url).origin) {
            // A signed storage URL refused: it expired between redirect and request; ask for a fresh one, once.
            await response.body.dump().catch(() => undefined);
            reResolved = true;
            throw new SourceError('http', `the signed URL for ${what} was refused (HTTP 403)`, { transient: true, status: 403, url: response.url });
          }
          if (response.status !== 200) throw await statusError(response, what);
          finalUrl = response.url;
          resumable = /\bbytes\b/i.test(response.headers['accept-ranges'] ?? '');
          const length = Number(response.headers['content-length']);
          total = response.headers['content-length'] !== undefined && Number.isFinite(length) ? length : undefined;
          md5 = googMd5(response.headers);
        }
        let bytes = have;
        const counter = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            bytes += chunk.length;
            options.onProgress?.(bytes, total);
            callback(null, chunk);
          },
        });
        try {
          await pipeline(response.body, counter, createWriteStream(dest, { flags: have > 0 ? 'a' : 'w' }), { signal: options.signal });
        } catch (error) {
          const failure = classifyError(error, response.url, options, 'body');
          if (failure.kind === 'truncated' && total !== undefined) {
            throw new SourceError('truncated', `truncated body: got ${bytes} of ${total} bytes of ${what}`, { transient: true, cause: error });
          }
          throw failure;
        }
        if (total !== undefined && bytes !== total) {
          throw new SourceError('truncated', `truncated body: got ${bytes} of ${total} bytes of ${what}`, { transient: true });
        }
      },
      options,
    );
    const bytes = await fileSize(dest);
    if (md5) {
      const actual = await md5File(dest);
      if (actual !== md5) throw new SourceError('checksum', `checksum mismatch for ${what}: md5 ${actual}, x-goog-hash says ${md5}`);
    }
    return { url: finalUrl ?? url, bytes, md5 };
  } catch (error) {
    await rm(dest, { force: true });
    throw error;
  }
}

/**
 * Touches a URL without downloading it: follows redirects, reads the status and headers, drops the body.
 * Returns the final response's status and the time to it.
 */
export async function probeUrl(url: string, init: RequestInit): Promise<{ status: number; url: string; latencyMs: number; headers: Record<string, string> }> {
  const started = performance.now();
  const response = await httpRequest(url, init);
  const latencyMs = Math.round(performance.now() - started);
  response.body.on('error', () => undefined); // destroying an unread body reports an abort
  response.body.destroy();
  return { status: response.status, url: response.url, latencyMs, headers: response.headers };
}

/** GET/POST returning parsed JSON from a 2xx; other statuses throw a SourceError. */
export async function requestJson<T>(url: string, init: RequestInit & { what?: string }): Promise<T> {
  const response = await httpRequest(url, { ...init, headers: { accept: 'application/json', ...init.headers } });
  if (response.status < 200 || response.status >= 300) throw await statusError(response, init.what);
  let text: string;
  try {
    text = await response.body.text();
  } catch (error) {
    throw classifyError(error, url, init, 'body');
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new SourceError('invalid', `${init.what ?? displayUrl(url)} answered with something that is not JSON`);
  }
}
