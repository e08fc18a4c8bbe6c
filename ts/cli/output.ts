// Shared CLI plumbing: notices to stderr, exit codes.
export const EXIT_OK = 0;
export const EXIT_SOME_FAILED = 1;
export const EXIT_USAGE = 2;
/** What a shell reports for a process killed by SIGPIPE, as `cat` or `grep` would be in `... | head -1`. */
export const EXIT_BROKEN_PIPE = 128 + 13;

/** Aborted when the reader of stdout or stderr has gone away: commands stop their work (see main.ts). */
export const outputClosed = new AbortController();

export function warn(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Thrown by a command for a user error that should exit with EXIT_USAGE and print only its message. */
export class UsageError extends Error {
  override name = 'UsageError';
}
