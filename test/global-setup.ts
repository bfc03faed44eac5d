import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { createTemplate, dropTestDatabases, type TemplateRef } from './helpers/database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    dbTemplate: TemplateRef;
    runDir: string;
  }
}

/** Migrates one template database per run; every test file then copies it (see helpers/database.ts). */
export default async function setup(project: TestProject) {
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'moim-test-'));
  const template = await createTemplate(runDir);
  project.provide('dbTemplate', template);
  project.provide('runDir', runDir);
  return async () => {
    await dropTestDatabases(template);
    await fs.rm(runDir, { recursive: true, force: true });
  };
}
