import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/infra/db/database.js';
import { createInfra } from '../src/infra/infra.js';
import { createLogger } from '../src/infra/logger.js';
import { serializeOpenApi } from '../src/http/openapi.js';

/**
 * `write` regenerates openapi.json from the route schemas; `check` fails when the committed file differs, so
 * the published contract can never drift from the code.
 */
const mode = process.argv[2] ?? 'check';
const file = path.resolve(import.meta.dirname, '../openapi.json');

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moim-openapi-'));
const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
const database = await openDatabase({ pgliteDir: 'memory://' });
await database.migrate();
const infra = await createInfra(config, { database, logger: createLogger(config), defaultMetrics: false });
const app = await buildApp(infra);
await app.ready();
const generated = serializeOpenApi(app);
await app.close();
await infra.close();
fs.rmSync(dataDir, { recursive: true, force: true });

if (mode === 'write') {
  fs.writeFileSync(file, generated);
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
} else {
  const committed = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (committed !== generated) {
    console.error(
      'openapi.json is out of date with the route schemas. Run `npm run openapi` and commit the result.',
    );
    process.exit(1);
  }
  console.log('openapi.json is up to date');
}
