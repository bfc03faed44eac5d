import type { Socket } from 'socket.io-client';
import type { Histogram, SparseHistogram } from './histogram.js';

/**
 * What the bench process and its socket load workers (child processes) say to each other, and what a scenario
 * (the behaviour of each simulated client: bench/scenarios/*.ts) sees inside a worker.
 */

/** One simulated client. `data` is the scenario's own (conversation id, position…). */
export interface ClientSpec<D = unknown> {
  /** Access token for `auth.token`; the baseline server ignores it. */
  token: string;
  /** Extra handshake `auth` fields (the baseline's rooms). */
  auth?: Record<string, unknown>;
  data: D;
}

export interface InitMessage {
  kind: 'init';
  workerId: number;
  url: string;
  /** Absolute path of the scenario module, which exports `createScenario`. */
  scenario: string;
  clients: ClientSpec[];
  /** Handshakes per second this worker starts. */
  connectPerSec: number;
}

export type Command =
  | { kind: 'start'; params: unknown }
  | { kind: 'reset' }
  | { kind: 'stop' }
  | { kind: 'collect' }
  | { kind: 'query'; name: string; arg: unknown }
  | { kind: 'close' };

export type Request = (InitMessage | Command) & { id: number };

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export interface ConnectResult {
  connected: number;
  failed: number;
  /** A few distinct `connect_error` messages, for the report. */
  errors: string[];
}

export interface Stats {
  histograms: Record<string, SparseHistogram>;
  counters: Record<string, number>;
}

export interface WorkerContext {
  workerId: number;
  /**
   * Milliseconds on CLOCK_MONOTONIC, the same clock in every process of the machine, so a timestamp taken by a
   * sender in one worker can be subtracted from the time a receiver in another worker sees the message.
   */
  now(): number;
  histogram(name: string): Histogram;
  count(name: string, n?: number): void;
}

export interface Scenario {
  /** Called for each socket before it connects: register listeners here. */
  attach(socket: Socket, spec: ClientSpec, index: number): void;
  start(params: unknown): void;
  /** Stops sending; acknowledgements and deliveries still in flight are still counted. */
  stop(): void;
  /** Scenario-specific questions from the bench process (JSON in, JSON out). */
  query?(name: string, arg: unknown): unknown;
}

export type ScenarioFactory = (ctx: WorkerContext) => Scenario;
