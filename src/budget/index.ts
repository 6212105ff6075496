// The memory budget: how much memory the box has (the board's ramMB, or what
// Linux reports, or --memory-budget-mb), what the kernel, the supervisor and
// PostgreSQL take (measured from /proc when asked), and what each app service
// reserves. Admission control asks it before a service is installed or
// started and before an instance is created or started: what does not fit is
// refused with MEMORY_BUDGET and the numbers, unless forced (then it is
// admitted with a warning, logged and answered). docs/budget.md.
import type { ApiRoute } from '../api';
import { ApError } from '../errors';
import type { Logger } from '../log';
import { mb, measure, MiB, summary, type Declared, type MeasureOptions } from './measure';
import { BudgetView as BudgetViewSchema, type BudgetView } from './views';

export { DEFAULT_CONNECTION_BYTES, KERNEL_FIELDS, MiB, type Backend, type BudgetService, type BudgetSources, type Declared } from './measure';
export { BudgetView, BudgetServiceView } from './views';

/** What an admission answers: null when it fits, else the warning of a forced one. */
export type Admitted = string | null;

export interface BudgetOptions extends MeasureOptions {
  readonly log: Logger;
}

export class Budget {
  constructor(private readonly options: BudgetOptions) {}

  /** The budget now, read from /proc. */
  read(): Promise<BudgetView> {
    return measure(this.options);
  }

  /** Installing (or updating) package `name`, which declares `declared`: only what it needs beyond what it reserves now. */
  async install(name: string, declared: Declared, force: boolean): Promise<Admitted> {
    const budget = await this.read();
    const limits = this.options.sources.limits(name, declared);
    const now = budget.services.find((s) => s.name === name);
    const instances = now?.instances ?? 0;
    const limit = (limits.memoryMB + limits.instanceMB * instances) * MiB;
    // A stopped service comes back with its instances: their connections too.
    const connections = now && now.reservedBytes === 0 ? instances * budget.postgres.perConnectionBytes : 0;
    const need = Math.max(0, limit + connections - (now?.reservedBytes ?? 0));
    return this.admit(budget, `${name}${now ? ' (an update)' : ''}`, need, force);
  }

  /** Starting service `name` by hand: nothing when it reserves already (running or restarting). */
  async startService(name: string, force: boolean): Promise<Admitted> {
    const budget = await this.read();
    const s = budget.services.find((x) => x.name === name);
    if (!s || s.reservedBytes > 0) return null;
    return this.admit(budget, `starting ${name}`, s.declaredBytes + s.instances * budget.postgres.perConnectionBytes, force);
  }

  /**
   * A new or started instance of `service`: its instanceMB and one PostgreSQL
   * connection. Nothing while the service reserves nothing (stopped, failed):
   * starting the service counts its instances then.
   */
  async instance(service: string, id: string, force: boolean): Promise<Admitted> {
    const budget = await this.read();
    const s = budget.services.find((x) => x.name === service);
    if (!s || s.reservedBytes === 0) return null;
    return this.admit(budget, `instance ${id} of ${service}`, s.instanceMB * MiB + budget.postgres.perConnectionBytes, force);
  }

  private admit(budget: BudgetView, what: string, need: number, force: boolean): Admitted {
    // Nothing more is always admitted, also when an earlier force left the budget below zero.
    if (need <= 0 || need <= budget.freeBytes) return null;
    const text = `${what} needs ${Math.max(1, mb(need))} MB, ${summary(budget)}`;
    if (!force) throw new ApError('MEMORY_BUDGET', `${text}; force it (force: true, --force) to admit it anyway`);
    const warning = `admitted although memory is short (forced): ${text}`;
    this.options.log.warn(warning);
    return warning;
  }

  routes(): ApiRoute[] {
    return [
      {
        method: 'GET',
        pattern: '/system/budget',
        summary: 'the memory budget: total, kernel, supervisor, PostgreSQL with its connections, each service, free (read from /proc now)',
        response: BudgetViewSchema,
        handler: () => this.read(),
      },
    ];
  }
}
