import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, ENV, loadConfig } from '../../src/config.js';
import { ROOT, spawnMoim, waitForExit } from '../helpers/process.js';

describe('configuration', () => {
  it('works with nothing set: embedded mode on 127.0.0.1:3000 with data in ./data', () => {
    const config = loadConfig({});
    expect(config.http.host).toBe('127.0.0.1');
    expect(config.http.port).toBe(3000);
    expect(config.dataDir).toBe(path.resolve('./data'));
    expect(config.db.url).toBeUndefined();
    expect(config.redis.url).toBeUndefined();
    expect(config.timeZone).toBe('Asia/Seoul');
    expect(config.jobs.inProcess).toBe(true);
    expect(config.files.dir).toBe(path.join(path.resolve('./data'), 'media'));
  });

  it('lists every bad value at once', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'abc',
        LOG_LEVEL: 'loud',
        DATABASE_URL: 'mysql://x',
        TIME_ZONE: 'Mars/Base',
        JOBS_IN_PROCESS: 'maybe',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toMatch(/PORT must be an integer/);
    expect(problems.join('\n')).toMatch(/LOG_LEVEL must be one of/);
    expect(problems.join('\n')).toMatch(/DATABASE_URL must use postgres:/);
    expect(problems.join('\n')).toMatch(/TIME_ZONE must be an IANA time zone/);
    expect(problems.join('\n')).toMatch(/JOBS_IN_PROCESS must be true or false/);
  });

  it('refuses plain http PUBLIC_URL in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', PUBLIC_URL: 'http://moim.example.com' })).toThrow(
      /PUBLIC_URL must use https/,
    );
  });

  it('refuses to generate keys per node in production: every node and worker must share them', () => {
    const base = { NODE_ENV: 'production', PUBLIC_URL: 'https://moim.example.com', SMS_PROVIDER: 'sens' };
    let error: unknown;
    try {
      loadConfig(base);
    } catch (err) {
      error = err;
    }
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/JWT_PRIVATE_KEY is required in production/);
    expect(problems).toMatch(/DATA_ENCRYPTION_KEY is required in production/);
  });

  it('names prepared statements unless told not to (a pooler in transaction mode)', () => {
    expect(loadConfig({}).db.preparedStatements).toBe(true);
    expect(loadConfig({ DATABASE_PREPARED_STATEMENTS: 'false' }).db.preparedStatements).toBe(false);
    expect(() => loadConfig({ DATABASE_PREPARED_STATEMENTS: 'sometimes' })).toThrow(
      /DATABASE_PREPARED_STATEMENTS must be true or false/,
    );
  });

  it('parses per-kind lead times for events', () => {
    expect(loadConfig({ EVENT_MIN_LEAD_MINUTES: '30,run=360' }).events.minLeadMinutes).toEqual({
      default: 30,
      byKind: { run: 360 },
    });
    expect(() => loadConfig({ EVENT_MIN_LEAD_MINUTES: 'run=soon' })).toThrow(/EVENT_MIN_LEAD_MINUTES/);
  });

  it('.env.example and the README document every variable', () => {
    const example = fs.readFileSync(path.join(ROOT, '.env.example'), 'utf8');
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const name of Object.keys(ENV)) {
      expect(example, `.env.example lacks ${name}`).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
      expect(readme, `README lacks ${name}`).toContain(`\`${name}\``);
    }
  });

  it('the CLI exits non-zero with a readable list of what is wrong', async () => {
    const child = spawnMoim(['start'], { PORT: 'abc', LOG_LEVEL: 'loud', DATA_DIR: '/nonexistent' });
    const { code } = await waitForExit(child);
    expect(code).toBe(1);
    expect(child.output()).toContain('Invalid configuration:');
    expect(child.output()).toContain('- PORT must be an integer');
    expect(child.output()).toContain('- LOG_LEVEL must be one of');
    expect(child.output()).not.toMatch(/\n\s+at /);
  });
});
