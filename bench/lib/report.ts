import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './processes.js';
import type { RoundResult } from './rounds.js';

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface SummaryRow {
  label: string;
  rounds: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** Median req/s over the baseline's median req/s. */
  ratio: number;
  /** Range of the per-round ratios (each against the baseline of the same round). */
  ratioMin: number;
  ratioMax: number;
  serverCpu?: number;
  rssMb?: number;
}

/** Medians per target over the rounds, in the order the targets ran. */
export function summarize(results: RoundResult[], baselineLabel: string): SummaryRow[] {
  const baseline = results.filter((r) => r.label === baselineLabel);
  const baseByRound = new Map(baseline.map((r) => [r.round, r.reqPerSec]));
  const baseMedian = median(baseline.map((r) => r.reqPerSec));
  const labels = [...new Set(results.map((r) => r.label))];
  return labels.map((label) => {
    const rs = results.filter((r) => r.label === label);
    const ratios = rs.map((r) => r.reqPerSec / (baseByRound.get(r.round) ?? Number.NaN));
    const cpus = rs.flatMap((r) => (r.cpu.server === undefined ? [] : [r.cpu.server]));
    const rss = rs.flatMap((r) => (r.rssMb === undefined ? [] : [r.rssMb]));
    const reqPerSec = median(rs.map((r) => r.reqPerSec));
    return {
      label,
      rounds: rs.length,
      reqPerSec,
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      errors: rs.reduce((sum, r) => sum + r.errors, 0),
      non2xx: rs.reduce((sum, r) => sum + r.non2xx, 0),
      ratio: reqPerSec / baseMedian,
      ratioMin: Math.min(...ratios),
      ratioMax: Math.max(...ratios),
      ...(cpus.length > 0 ? { serverCpu: median(cpus) } : {}),
      ...(rss.length > 0 ? { rssMb: Math.max(...rss) } : {}),
    };
  });
}

const int = (n: number) => Math.round(n).toLocaleString('en');
const ms = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));
const ratio = (n: number) => n.toFixed(2);
const opt = (n: number | undefined, unit: string) => (n === undefined ? '–' : `${Math.round(n)}${unit}`);

export function tableRow(cells: (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}

function table(header: string[], rows: (string | number)[][]): string {
  return [tableRow(header), tableRow(header.map(() => '---')), ...rows.map(tableRow)].join('\n');
}

/** The medians table; the ratio column is the figure a goal is checked against. */
export function summaryTable(rows: SummaryRow[]): string {
  return table(
    [
      'target',
      'req/s (median)',
      'p50 ms',
      'p99 ms',
      'errors / non-2xx',
      'ratio vs baseline (per-round range)',
      'server CPU',
      'server RSS',
    ],
    rows.map((r) => [
      r.label,
      int(r.reqPerSec),
      ms(r.p50),
      ms(r.p99),
      `${r.errors} / ${r.non2xx}`,
      r.ratio === 1 && r.ratioMin === 1
        ? '1.00'
        : `**${ratio(r.ratio)}** (${ratio(r.ratioMin)}–${ratio(r.ratioMax)})`,
      opt(r.serverCpu, ' %'),
      opt(r.rssMb, ' MB'),
    ]),
  );
}

/** Every run, so a disturbed round can be seen (high "other CPU") rather than hidden in a median. */
export function roundsTable(results: RoundResult[], baselineLabel: string): string {
  const base = new Map(results.filter((r) => r.label === baselineLabel).map((r) => [r.round, r.reqPerSec]));
  return table(
    [
      'round',
      'target',
      'req/s',
      'p50 ms',
      'p99 ms',
      'errors / non-2xx',
      'ratio',
      'server CPU',
      'load CPU',
      'other CPU',
    ],
    results.map((r) => [
      r.round,
      r.label,
      int(r.reqPerSec),
      ms(r.p50),
      ms(r.p99),
      `${r.errors} / ${r.non2xx}`,
      ratio(r.reqPerSec / (base.get(r.round) ?? Number.NaN)),
      opt(r.cpu.server, ' %'),
      `${r.cpu.load} %`,
      `${r.cpu.other} %`,
    ]),
  );
}

export function machineInfo(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const gib = Math.round(os.totalmem() / 2 ** 30);
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return (
    `${cpus.length} × ${model}, ${gib} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}; ` +
    `load average at start ${load}`
  );
}

/** The code measured: the commit, and whether the working tree had changes on top of it. */
export function codeVersion(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    const commit = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain', '--', 'src', 'package.json', 'package-lock.json') !== '';
    return dirty ? `${commit} with uncommitted changes in src/ or package.json` : commit;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

const RESULTS_FILE = path.join(ROOT, 'bench', 'RESULTS.md');

const INTRO = `# Benchmark results

Figures recorded with \`npm run bench -- <name> --record\`; each section is replaced when its benchmark is
recorded again.

**The ratio to the baseline measured in the same run is the contract, not the absolute numbers.** The machine is
a shared 2-vCPU VM: other work runs on it and the host's speed drifts by up to 1.7× within minutes, so req/s
from two runs are not comparable, while a baseline and a candidate measured in interleaved rounds of one run see
the same conditions. Goals (see the performance reference) are stated as such ratios, as the median of at least
3 rounds. Latency percentiles vary much more than throughput from run to run; read p99 across several runs.
`;

/** Writes `markdown` as the section of benchmark `name` in bench/RESULTS.md, replacing an earlier one. */
export async function recordSection(name: string, markdown: string): Promise<string> {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const block = `${start}\n\n${markdown.trim()}\n\n${end}`;
  let text = fs.existsSync(RESULTS_FILE) ? fs.readFileSync(RESULTS_FILE, 'utf8') : INTRO;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  text =
    from !== -1 && to > from
      ? text.slice(0, from) + block + text.slice(to + end.length)
      : `${text.trimEnd()}\n\n${block}\n`;
  // Formatted like the rest of the repository, so `prettier --check .` stays clean after a recording.
  const prettier = await import('prettier');
  const config = (await prettier.resolveConfig(RESULTS_FILE)) ?? {};
  fs.writeFileSync(RESULTS_FILE, await prettier.format(text, { ...config, filepath: RESULTS_FILE }));
  return RESULTS_FILE;
}

/** Warnings a reader needs before trusting the medians. */
export function caveats(results: RoundResult[], quietPct: number): string[] {
  const lines: string[] = [];
  const saturated = results.filter((r) => r.cpu.load >= 95);
  if (saturated.length > 0) {
    lines.push(
      `Warning: the load generator used ≥ 95 % of its core in ${saturated.length} run(s) ` +
        `(${saturated.map((r) => `${r.label}, round ${r.round}`).join('; ')}): those figures are limited by the ` +
        `client, which makes ratios to a client-bound baseline look better than they are.`,
    );
  }
  const noisy = results.filter((r) => r.cpu.other >= quietPct);
  if (noisy.length > 0) {
    lines.push(
      `Warning: the rest of the machine used ≥ ${quietPct} % of a core during ${noisy.length} run(s) ` +
        `(${noisy.map((r) => `${r.label}, round ${r.round}: ${r.cpu.other} %`).join('; ')}).`,
    );
  }
  return lines;
}
