// The package version, read once from package.json so every output names the build that made it.
import { readFileSync } from 'node:fs';

const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
export const PACKAGE_VERSION = manifest.version;
