import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * One benchmark at a time on the machine, whichever worktree it runs from: two benchmarks pin their servers to
 * the same core and each measures the other. The lock is a directory (created atomically) holding the owner's
 * pid and command; a lock left by a process that no longer exists is taken over.
 */
const LOCK_DIR = path.join(os.tmpdir(), 'moim-bench.lock');

function owner(): { pid: number; command: string } | undefined {
  try {
    const [pid, ...command] = fs.readFileSync(path.join(LOCK_DIR, 'owner'), 'utf8').split('\n');
    return { pid: Number(pid), command: command.join(' ').trim() };
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function machineLock(command: string, progress: (line: string) => void): Promise<() => void> {
  let told = false;
  for (;;) {
    try {
      fs.mkdirSync(LOCK_DIR);
      fs.writeFileSync(path.join(LOCK_DIR, 'owner'), `${process.pid}\n${command}\n`);
      const release = () => {
        if (owner()?.pid === process.pid) fs.rmSync(LOCK_DIR, { recursive: true, force: true });
      };
      process.once('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = owner();
    const orphaned =
      !held && Date.now() - (fs.statSync(LOCK_DIR, { throwIfNoEntry: false })?.mtimeMs ?? 0) > 10_000;
    if ((held && !alive(held.pid)) || orphaned) {
      fs.rmSync(LOCK_DIR, { recursive: true, force: true });
      continue;
    }
    if (!told) {
      progress(
        `waiting for another benchmark to finish (${held ? `pid ${held.pid}: ${held.command}` : LOCK_DIR})`,
      );
      told = true;
    }
    // The owner may still be writing its pid: a missing owner file is given time rather than taken over.
    await new Promise((r) => setTimeout(r, 2_000));
  }
}
