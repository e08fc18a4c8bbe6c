// Cross-process lock files, compatible with tensorflow_hub's (hub-protocols.md §3): the lock is a file whose
// content is "<hostname>.<pid>.<uid>", created atomically (a temporary file hard-linked to the lock name, so
// creation fails if it exists). Waiters poll. A lock is stale, and removed, when its holder is a dead process on
// this host, or when neither the lock file nor the holder's progress (for TF Hub: the size of
// "<module>.<uid>.tmp") has changed for `staleMs` (tensorflow_hub: 600 s). Our holders touch the lock file while
// they hold it, so their locks never look stale while they live.
import { randomUUID } from 'node:crypto';
import { link, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LockOptions {
  /** Poll interval while waiting (tensorflow_hub: 5 s). */
  pollMs?: number;
  /** No change for this long makes a lock stale (tensorflow_hub: 600 s). */
  staleMs?: number;
  /** A progress measure of the holder, e.g. the size of its temporary folder; called with the holder's uid. */
  progress?: (holderUid: string) => Promise<number>;
  signal?: AbortSignal;
  /** Called once when the lock is busy, with the holder's description. */
  onWait?: (holder: string) => void;
}

export interface Lock {
  readonly path: string;
  readonly uid: string;
  release(): Promise<void>;
}

interface Holder {
  host: string;
  pid: number;
  uid: string;
}

export function parseHolder(content: string): Holder | undefined {
  const match = /^(.*)\.(\d+)\.([0-9a-f]+)$/i.exec(content.trim());
  return match ? { host: match[1]!, pid: Number(match[2]), uid: match[3]! } : undefined;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Creates the lock file if it does not exist; false if it does. */
async function tryCreate(path: string, content: string, uid: string): Promise<boolean> {
  const temp = `${path}.${uid}.tmp-lock`;
  await writeFile(temp, content);
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error;
    // File systems without hard links: exclusive create.
    try {
      await writeFile(path, content, { flag: 'wx' });
      return true;
    } catch (inner) {
      if ((inner as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw inner;
    }
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

export async function acquireLock(path: string, options: LockOptions = {}): Promise<Lock> {
  const pollMs = options.pollMs ?? 250;
  const staleMs = options.staleMs ?? 600_000;
  const uid = randomUUID().replace(/-/g, '');
  const host = hostname();
  const content = `${host}.${process.pid}.${uid}`;
  let lastSeen: { content: string; measure: string; since: number } | undefined;
  let announced = false;
  for (;;) {
    options.signal?.throwIfAborted();
    if (await tryCreate(path, content, uid)) break;
    const current = await readFile(path, 'utf8').catch(() => undefined);
    if (current === undefined) continue; // released meanwhile
    const holder = parseHolder(current);
    if (!announced) {
      announced = true;
      options.onWait?.(holder ? `${holder.host} pid ${holder.pid}` : 'another process');
    }
    let stale = holder !== undefined && holder.host === host && holder.pid !== process.pid && !processAlive(holder.pid);
    if (!stale) {
      const mtime = (await stat(path).catch(() => undefined))?.mtimeMs ?? 0;
      const progress = holder && options.progress ? await options.progress(holder.uid).catch(() => 0) : 0;
      const measure = `${mtime}:${progress}`;
      const now = Date.now();
      if (!lastSeen || lastSeen.content !== current || lastSeen.measure !== measure) lastSeen = { content: current, measure, since: now };
      else if (now - lastSeen.since >= staleMs) stale = true;
    }
    if (stale) {
      // Remove it only if it is still the lock we judged stale.
      const again = await readFile(path, 'utf8').catch(() => undefined);
      if (again === current) await rm(path, { force: true });
      lastSeen = undefined;
      continue;
    }
    await sleep(pollMs, undefined, { signal: options.signal });
  }
  // Heartbeat: keep the lock's mtime fresh so that waiters know we are alive.
  const beat = setInterval(
    () => {
      const now = new Date();
      utimes(path, now, now).catch(() => undefined);
    },
    Math.max(50, Math.min(30_000, staleMs / 4)),
  );
  beat.unref();
  return {
    path,
    uid,
    async release() {
      clearInterval(beat);
      const current = await readFile(path, 'utf8').catch(() => undefined);
      if (current === content) await rm(path, { force: true });
    },
  };
}

/** Runs `fn` while holding the lock. */
export async function withLock<T>(path: string, options: LockOptions, fn: (lock: Lock) => Promise<T>): Promise<T> {
  const lock = await acquireLock(path, options);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}
