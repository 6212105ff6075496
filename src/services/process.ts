// One supervised app service: the executor of src/supervision's machine. It spawns the child
// in its own process group with the channel on fd 3, appends its output to a
// size-capped log, keeps crash records, and routes channel frames to streams.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex, Writable } from 'node:stream';
import type { Usage } from '../cgroup';
import { Channel, decodeJson, Kind, type Frame } from '../channel';
import { describe as describeError } from '../errors';
import { ensureDir, writeFileAtomic } from '../fsutil';
import { openRotatingFile, type Logger } from '../log';
import { INITIAL, step, type Action, type Event, type Machine, type Policy, type State } from '../supervision';
import type { Manifest } from './manifest';
import type { CrashRecord, LimitsView, ServiceView } from './views';
import { LineStamper, OUTPUT_BUDGET, OutputReader } from './output';
import { MARKER, sweep, type Owner } from './sweep';
import type { WebContent } from '../webserver';

/** What a stream's owner (an HTTP request, a WebSocket) hears from the service. */
export interface StreamHandler {
  frame(frame: Frame): void;
  /** The channel took everything queued: paused uploads may go on. */
  drain(): void;
  /** The service went away (exit, cut-off, stop). */
  gone(reason: string): void;
}

export interface ServiceOptions {
  readonly manifest: Manifest;
  readonly dir: string;
  readonly logDir: string;
  readonly crashDir: string;
  readonly policy: Policy;
  readonly logMaxBytes: number;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly maxPayload: number;
  /** Run as this user (uid/gid), or as ourselves. */
  readonly account: { readonly uid: number; readonly gid: number } | null;
  /** Its writable folder (HOME), owned by its account. */
  readonly dataDir: string;
  /** `<state root>:<name>`: marks every process it starts (sweep.ts). */
  readonly marker: string;
  /** Where it starts: stopped, or failed when it had failed before the supervisor's restart. */
  readonly initial?: Machine;
  /** Node.js flags for services whose entry is "node" (the board's small young generation). */
  readonly nodeFlags: readonly string[];
  /** Wraps argv so the child dies with us (setpriv --pdeathsig), or null. */
  readonly deathSignalWrapper: readonly string[] | null;
  /** Instance descriptions sent as instance.start once the service is ready. */
  readonly instances: () => readonly Record<string, unknown>[];
  readonly log: Logger;
  /** Told of every state change. */
  readonly onState?: (state: State) => void;
  /** The package's web folder, indexed at install, or null. */
  readonly web: WebContent | null;
  /** Its cgroup, or null when services run without (no cgroup could be made). */
  readonly group?: ServiceGroup | null;
  /** Its limits in effect. */
  readonly limits: () => LimitsView;
  /** Told when the kernel killed it at its memory limit (with the limit), and when it has run stably since. */
  readonly onHealth?: (event: { readonly type: 'out-of-memory'; readonly limitMB: number } | { readonly type: 'stable' }) => void;
}

/** The service's cgroup, as the process needs it (index.ts binds it to the service's name and limits). */
export interface ServiceGroup {
  /** Makes the group when missing and writes the limits in force. */
  prepare(): void;
  /** Moves `pid` into the group. */
  join(pid: number): void;
  usage(): Usage | null;
  oomKills(): number | null;
}

/**
 * A child starts as this shell, which waits for one line on fd 4 before it
 * runs the service's argv: the supervisor writes it once it has put the
 * shell's pid into the service's group, so the service's first instruction
 * (a fork bomb's first fork) already runs inside its limits. EOF (the
 * supervisor died meanwhile) ends it.
 */
export const GATE = ['/bin/sh', '-c', 'read -r _ <&4 || exit 1; exec "$@" 4<&-', 'ap-service'];

/** A service as `ap ctl service list` shows it (its schema: views.ts). */
export type ServiceStatus = ServiceView;

const CRASH_RECORDS_KEPT = 10;
/** Bytes the service has not read above which its pings go unanswered (docs/channel.md). */
const PONG_BACKLOG = 1024 * 1024;
const TAIL_BYTES = 8192;

/**
 * V8 sizes its heap from the machine's memory, not from the service's limit:
 * a Node service would reach its memory limit (and be killed there) before
 * it collected harder. Its old space gets three quarters of the limit in
 * force when it starts (a changed limit counts from its next start); a flag
 * of its own in its entry comes later on the command line and wins.
 */
export function heapFlag(memoryLimitMB: number): string {
  return `--max-old-space-size=${Math.max(16, Math.floor((memoryLimitMB * 3) / 4))}`;
}

export class ServiceProcess {
  private machine: Machine;
  private child: ChildProcess | null = null;
  private channel: Channel | null = null;
  /** The current run's log: lines stamped with their time; closed once the run's pipes are (or 2 s after its exit). */
  private run: { readonly stamper: LineStamper; readonly close: () => void } | null = null;
  private tail = '';
  private cutOff: string | null = null;
  private startedAt = 0;
  private readonly timers: Partial<Record<'restart' | 'start' | 'stable' | 'kill', NodeJS.Timeout>> = {};
  private readonly streams = new Map<number, StreamHandler>();
  private nextStream = 1;
  private settled: (() => void)[] = [];

  /** The running process said in its hello that it answers the control `stop` (finishes, then exits). */
  private answersStop = false;
  /** Nothing of the service is left since its last exit (swept then): a start need not scan /proc again. */
  private swept = false;

  private reader: OutputReader | null = null;
  /** The group's OOM kill count when the current child started. */
  private oomBefore: number | null = null;
  /** Its memory limit when the kernel killed it for memory (for the crash record), else null. */
  private killedForMemory: number | null = null;

  constructor(private readonly options: ServiceOptions) {
    this.machine = options.initial ?? INITIAL;
  }

  /** Who owns the service's processes, for sweeps. */
  private get owner(): Owner {
    return { uid: this.options.account?.uid ?? null, marker: this.options.marker };
  }

  /** Kills whatever an earlier run of the service left (a killed supervisor's orphans); the count. */
  sweepLeftovers(): number {
    return sweep(this.owner, 'SIGKILL');
  }

  get name(): string {
    return this.options.manifest.name;
  }

  get manifest(): Manifest {
    return this.options.manifest;
  }

  get state(): State {
    return this.machine.state;
  }

  get pbxLogin(): boolean {
    return this.options.manifest.pbxLogin;
  }

  get build(): string {
    return this.options.manifest.label;
  }

  get web(): WebContent | null {
    return this.options.web;
  }

  /** Wants the service running (also out of failed). */
  start(): void {
    this.dispatch({ type: 'start' });
  }

  /** Stops the service; resolves once it is stopped (or was not running). */
  stop(): Promise<void> {
    this.dispatch({ type: 'stop' });
    if (this.state === 'stopped' || this.state === 'failed') return Promise.resolve();
    return new Promise((resolve) => this.settled.push(resolve));
  }

  status(): ServiceStatus {
    return {
      name: this.name,
      version: this.manifest.version,
      label: this.manifest.label,
      state: this.state,
      pid: this.child?.pid ?? null,
      startedAt: this.child ? new Date(this.startedAt).toISOString() : null,
      restarts: this.machine.attempt,
      deaths: this.machine.deaths.length,
      reason: this.machine.reason,
      streams: this.streams.size,
      limits: this.options.limits(),
      usage: this.options.group?.usage() ?? null,
    };
  }

  /** A new stream for `handler`, or null when the service is not running. */
  openStream(handler: StreamHandler): number | null {
    if (this.state !== 'running' || !this.channel || this.channel.closed) return null;
    let id = this.nextStream;
    while (this.streams.has(id)) id = id >= 0xffff_ffff ? 1 : id + 1;
    this.nextStream = id >= 0xffff_ffff ? 1 : id + 1;
    this.streams.set(id, handler);
    return id;
  }

  /** Forgets a stream (its owner is done with it). */
  closeStream(id: number): void {
    this.streams.delete(id);
  }

  /**
   * Whether it takes new client messages: only while running. While it stops
   * its streams stay open for its last answers, and what clients send waits
   * for the next process.
   */
  get accepting(): boolean {
    return this.state === 'running' && this.channel !== null && !this.channel.closed;
  }

  /** Sends a frame to the service; false when the channel is full (wait for drain) or gone. */
  send(kind: Kind, stream: number, payload?: Uint8Array): boolean {
    return this.channel?.send(kind, stream, payload) ?? false;
  }

  /** Bytes waiting in the channel towards the service. */
  get queued(): number {
    return this.channel?.writableLength ?? 0;
  }

  /** Sends a control message (instance.start/stop/config) when the service is running; false otherwise. */
  control(message: Record<string, unknown>): boolean {
    if (this.state !== 'running' || !this.channel) return false;
    this.channel.sendControl(message);
    return true;
  }

  /** Asks the service for a full garbage collection (honoured by SDK services run with --expose-gc). */
  requestGc(): void {
    this.channel?.sendControl({ type: 'gc' });
  }

  /** Cuts the service off for breaking the channel's rules (e.g. flooding); it is restarted. */
  cutOffFor(reason: string): void {
    this.channel?.close(new Error(reason));
  }

  private dispatch(event: Event): void {
    const { machine, actions } = step(this.machine, event, this.options.policy, Date.now());
    const before = this.machine.state;
    this.machine = machine;
    if (machine.state !== before) {
      this.options.log.debug(`${before} → ${machine.state} (${event.type})`);
      this.options.onState?.(machine.state);
    }
    for (const action of actions) this.perform(action);
    if (machine.state === 'failed' && before !== 'failed') this.options.log.error(`failed: ${machine.reason}`);
    if (machine.state === 'stopped' || machine.state === 'failed') {
      for (const resolve of this.settled.splice(0)) resolve();
    }
  }

  private perform(action: Action): void {
    switch (action.type) {
      case 'spawn':
        return this.spawn();
      case 'kill':
        return this.kill();
      case 'schedule-restart':
        this.timers.restart = setTimeout(() => this.dispatch({ type: 'timer' }), action.delayMs);
        return;
      case 'cancel-restart':
        return this.clear('restart');
      case 'arm-start-timeout':
        this.timers.start = setTimeout(() => this.dispatch({ type: 'start-timeout' }), this.options.startTimeoutMs);
        return;
      case 'arm-stable':
        this.clear('start');
        this.timers.stable = setTimeout(() => {
          this.dispatch({ type: 'stable' });
          this.options.onHealth?.({ type: 'stable' });
        }, this.options.policy.stableMs);
        return;
      case 'crash-record':
        void this.recordCrash(action.code, action.signal);
        return;
      case 'announce':
        this.options.log.warn(action.message);
        return;
    }
  }

  private spawn(): void {
    const { manifest, dir } = this.options;
    const [program, ...args] = manifest.entry;
    // Under --expose-gc (measurements) Node services get it too, for `ap ctl debug gc`.
    const gcFlag = typeof (globalThis as { gc?: unknown }).gc === 'function' ? ['--expose-gc'] : [];
    const command = program === 'node' ? [process.execPath, ...this.options.nodeFlags, heapFlag(this.options.limits().memoryLimitMB), ...gcFlag] : [join(dir, program!)];
    const group = this.options.group ?? null;
    let gated = false;
    if (group) {
      try {
        group.prepare();
        this.oomBefore = group.oomKills();
        gated = true;
      } catch (err) {
        this.options.log.error(`cannot make its cgroup (${describeError(err)}): it runs without its limits`);
      }
    }
    const argv = [...(gated ? GATE : []), ...(this.options.deathSignalWrapper ?? []), ...command, ...args];
    this.cutOff = null;
    this.killedForMemory = null;
    this.answersStop = false;
    this.tail = '';
    this.startedAt = Date.now();
    // A scan of /proc takes milliseconds to tens of them on a busy box, and a restart waits for it: once per exit is enough.
    const leftovers = this.swept ? 0 : sweep(this.owner, 'SIGKILL');
    this.swept = false;
    if (leftovers > 0) this.options.log.warn(`killed ${leftovers} process(es) an earlier run of it left behind`);
    let output: ReturnType<typeof openRotatingFile> | null = null;
    try {
      output = openRotatingFile(join(this.options.logDir, `${manifest.name}.log`), this.options.logMaxBytes, 0o640, true);
    } catch (err) {
      this.options.log.error(`cannot open its log: ${describeError(err)}`);
    }
    const stamper = new LineStamper((line) => {
      output?.write(line);
      if (this.run?.stamper === stamper) this.tail = (this.tail + line).slice(-TAIL_BYTES);
    });
    let logClosed = false;
    const closeLog = () => {
      if (logClosed) return;
      logClosed = true;
      stamper.flush();
      output?.close();
    };
    this.run = { stamper, close: closeLog };
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: dir,
      stdio: gated ? ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe', 'pipe'],
      detached: true, // its own process group: stop and clean-up reach its children too
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: this.options.dataDir,
        LANG: 'C.UTF-8',
        AP_SERVICE: manifest.name,
        AP_DATA_DIR: this.options.dataDir,
        AP_CHANNEL_FD: '3',
        AP_CHANNEL_MAX_PAYLOAD: String(this.options.maxPayload),
        [MARKER]: this.options.marker,
      },
      ...(this.options.account ? { uid: this.options.account.uid, gid: this.options.account.gid } : {}),
    });
    this.child = child;
    stamper.note(`==== start: ${manifest.name} ${manifest.version} (build ${manifest.label})${child.pid === undefined ? '' : `, pid ${child.pid}`} ====`);
    // Its last output may still be in the pipes when it has exited: the log closes once they are.
    child.once('close', closeLog);
    if (gated) this.release(child, group!);
    let exited = false;
    const onExit = (code: number | null, signal: string | null) => {
      if (exited) return;
      exited = true;
      this.onExit(child, code, signal);
    };
    child.once('error', (err) => {
      this.note(`cannot start: ${err.message}`);
      onExit(null, null);
    });
    child.once('exit', (code, signal) => onExit(code, signal));
    const reader = new OutputReader(
      (chunk, from) => stamper.take(chunk, from),
      () => {
        this.options.log.warn(`writes more than ${OUTPUT_BUDGET / 1024} KiB/s to its log (stdout, stderr, log messages): read at that pace, it waits in write()`);
        this.note(`[supervisor] output throttled to ${OUTPUT_BUDGET / 1024} KiB/s`);
      },
    );
    reader.attach(child.stdout!);
    reader.attach(child.stderr!);
    this.reader = reader;
    this.channel = new Channel(child.stdio[3] as Duplex, {
      frame: (frame) => this.onFrame(frame),
      drain: () => {
        for (const handler of this.streams.values()) handler.drain();
      },
      close: (error) => this.onChannelClose(child, error),
    }, { maxPayload: this.options.maxPayload });
  }

  /** Puts the gate shell into the service's group, then lets it run the service. */
  private release(child: ChildProcess, group: ServiceGroup): void {
    const gate = child.stdio[4] as Writable | null;
    if (child.pid === undefined || !gate) return; // spawn failed: 'error' follows
    try {
      group.join(child.pid);
    } catch (err) {
      this.options.log.error(`cannot put it into its cgroup (${describeError(err)}): it runs without its limits`);
    }
    gate.on('error', () => {}); // it died before it read the line
    gate.end('\n');
  }

  private onFrame(frame: Frame): void {
    if (frame.kind !== Kind.CONTROL) {
      // Frames for a stream that is already gone (aborted meanwhile) are dropped.
      this.streams.get(frame.stream)?.frame(frame);
      return;
    }
    const message = decodeJson(frame);
    switch (message.type) {
      case 'ready': {
        const before: State = this.state;
        this.dispatch({ type: 'ready' });
        if (before === 'starting' && (this.state as State) === 'running') {
          this.options.log.info(`running (pid ${this.child?.pid})`);
          for (const instance of this.options.instances()) this.channel?.sendControl({ type: 'instance.start', ...instance });
        }
        return;
      }
      case 'log':
        this.note(`${String(message.level ?? 'info')}: ${String(message.message ?? '')}`);
        if (this.channel) this.reader?.charge(frame.payload.length, this.channel);
        return;
      case 'ping':
        // Unanswered while it leaves a backlog unread: a service that pings without reading would make us queue pongs without end.
        if (this.queued <= PONG_BACKLOG) this.channel?.sendControl({ type: 'pong' });
        return;
      case 'hello':
        this.answersStop = Array.isArray(message.features) && message.features.includes('stop');
        return;
      default:
        return; // pong and messages of newer SDKs: nothing to do
    }
  }

  private onChannelClose(child: ChildProcess, error: Error | null): void {
    for (const handler of this.streams.values()) handler.gone(error ? 'the service was cut off' : 'the service closed its channel');
    this.streams.clear();
    if (this.child !== child || child.exitCode !== null || child.signalCode !== null) return;
    if (error) {
      this.cutOff = error.message;
      this.options.log.warn(`cut off: ${error.message}`);
      this.note(`[supervisor] cut off: ${error.message}`);
    }
    // It finished after a stop and closed its channel to exit: let it (the kill timer stands).
    if (!error && this.machine.state === 'stopping' && this.answersStop) return;
    // A service without its channel is of no use: end it; the machine restarts it.
    this.signalGroup(child, 'SIGTERM');
    this.timers.kill ??= setTimeout(() => this.signalGroup(child, 'SIGKILL'), this.options.stopTimeoutMs);
  }

  private onExit(child: ChildProcess, code: number | null, signal: string | null): void {
    if (this.child !== child) return;
    this.signalGroup(child, 'SIGKILL'); // whatever it left behind in its group
    sweep(this.owner, 'SIGKILL'); // and outside it (setsid, double fork)
    this.swept = true;
    this.reader?.close();
    this.reader = null;
    this.clear('kill');
    this.clear('start');
    this.clear('stable');
    this.channel?.close();
    this.channel = null;
    this.child = null;
    const limitMB = this.outOfMemory(signal);
    const how = code !== null ? `code ${code}` : signal !== null ? `signal ${signal}` : 'not started';
    this.note(`==== exit: ${how} after ${((Date.now() - this.startedAt) / 1000).toFixed(1)} s${limitMB === null ? '' : ` (out of memory, limit ${limitMB} MB)`} ====`);
    setTimeout(this.run!.close, 2000).unref();
    if (limitMB !== null) {
      this.killedForMemory = limitMB;
      this.options.log.warn(`killed by the kernel: out of memory (limit ${limitMB} MB)`);
    }
    this.dispatch({ type: 'exit', code, signal, ...(limitMB === null ? {} : { cause: `killed: out of memory (limit ${limitMB} MB)` }) });
    if (limitMB !== null) this.options.onHealth?.({ type: 'out-of-memory', limitMB });
  }

  /** The memory limit when the kernel's OOM killer ended it (its group's count grew since the start), else null. */
  private outOfMemory(signal: string | null): number | null {
    if (signal !== 'SIGKILL' || this.oomBefore === null) return null;
    const after = this.options.group?.oomKills() ?? null;
    return after !== null && after > this.oomBefore ? this.options.limits().memoryLimitMB : null;
  }

  private kill(): void {
    const child = this.child;
    if (!child) return;
    if (this.machine.state === 'stopping' && this.answersStop && this.channel && !this.channel.closed) {
      // Asked, not signalled: it answers what it was sent before it exits (its streams stay open meanwhile).
      this.channel.sendControl({ type: 'stop' });
      this.timers.kill = setTimeout(() => this.signalGroup(child, 'SIGKILL'), this.options.stopTimeoutMs);
      return;
    }
    this.signalGroup(child, 'SIGTERM');
    sweep(this.owner, 'SIGTERM'); // its processes outside the group get the same chance to end cleanly
    this.timers.kill = setTimeout(() => this.signalGroup(child, 'SIGKILL'), this.options.stopTimeoutMs);
  }

  private signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  }

  private clear(timer: keyof ServiceProcess['timers']): void {
    clearTimeout(this.timers[timer]);
    delete this.timers[timer];
  }

  /** A line of ours in the service's log (and the tail kept for crash records). */
  private note(text: string): void {
    this.run?.stamper.note(text);
  }

  private async recordCrash(code: number | null, signal: string | null): Promise<void> {
    const { crashDir, manifest } = this.options;
    const time = new Date();
    const record: CrashRecord = {
      service: manifest.name,
      version: manifest.version,
      time: time.toISOString(),
      uptimeMs: time.getTime() - this.startedAt,
      exitCode: code,
      signal,
      cutOff: this.cutOff,
      ...(this.killedForMemory === null ? {} : { reason: 'out-of-memory' as const, memoryLimitMB: this.killedForMemory }),
      lastLines: this.tail.split('\n').filter(Boolean).slice(-40),
    };
    try {
      await ensureDir(crashDir);
      // As private as its log (its last lines are in it): other services run as accounts of their own.
      await writeFileAtomic(join(crashDir, `crash-${time.toISOString().replace(/[:.]/g, '-')}.json`), `${JSON.stringify(record, null, 2)}\n`, 0o640);
      const records = (await readdir(crashDir)).filter((f) => f.startsWith('crash-') && f.endsWith('.json')).sort();
      for (const old of records.slice(0, Math.max(0, records.length - CRASH_RECORDS_KEPT))) await rm(join(crashDir, old), { force: true });
    } catch (err) {
      this.options.log.error(`cannot write a crash record: ${describeError(err)}`);
    }
  }
}
