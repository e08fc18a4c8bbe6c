// Runs once before the suite: without the shared fixtures every parity test would fail with a bare ENOENT.
import { existsSync } from 'node:fs';
import { SHARED_FIXTURES } from './shared-fixtures.js';

export default function checkFixtures(): void {
  for (const manifest of ['musiq/manifest.json', 'savedmodel/manifest.json', 'vila/manifest.json']) {
    if (!existsSync(`${SHARED_FIXTURES}/${manifest}`)) {
      throw new Error(
        `the test fixtures are not at ${SHARED_FIXTURES} (no ${manifest}): the tests read the project's shared ` +
          'fixtures from shared/fixtures beside the checkout; set MUSIQ_NATIVE_FIXTURES=/path/to/shared/fixtures to read them elsewhere',
      );
    }
  }
}
