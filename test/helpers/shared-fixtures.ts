// Where the project's shared fixtures are (read-only): $MUSIQ_NATIVE_FIXTURES, else `shared/fixtures` beside the
// checkout, where the workspace and CI keep them. No reads here, so the suite's setup can check the folder first.
import { join } from 'node:path';

export const SHARED_FIXTURES = process.env.MUSIQ_NATIVE_FIXTURES || join(import.meta.dirname, '../../../shared/fixtures');
export const sharedFixture = (relative: string): string => join(SHARED_FIXTURES, relative);
