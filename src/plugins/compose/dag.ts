// A small DAG runner: each task starts once every dependency has run and passed the gate its
// dependent asked for (a readiness condition). Generic over what a task returns; knows nothing of VMs.
// Outcomes are kept apart: a task that failed, one whose dependency failed (skipped, with the reason),
// and, with failFast, one that never began because something else failed first.

export interface DagNeed {
  /** Id of the task depended on. */
  id: string;
  /**
   * Awaited after that task succeeded, before the dependent starts. A rejection is the dependency's
   * failure (it ran but did not meet the condition), reported once under its id. Callers share one
   * promise per (task, condition) so a condition is checked once however many dependents wait on it.
   */
  gate?: () => Promise<void>;
}

export interface DagTask<R> {
  id: string;
  needs: DagNeed[];
  run: () => Promise<R>;
}

export interface DagResult<R> {
  /** Tasks that ran and whose gates (if any dependent asked) passed. */
  done: Map<string, R>;
  /** Tasks that failed, or ran but failed a gate a dependent waited on. */
  failed: Map<string, unknown>;
  /** Tasks that never began, with the reason. */
  skipped: Map<string, string>;
}

export interface DagOptions {
  /** After the first failure, nothing new begins (tasks in flight finish). Default true. */
  failFast?: boolean;
}

/** Runs `tasks` (ids unique, needs acyclic and naming tasks in the list) and settles every one. */
export async function runDag<R>(tasks: DagTask<R>[], opts: DagOptions = {}): Promise<DagResult<R>> {
  const failFast = opts.failFast ?? true;
  const res: DagResult<R> = { done: new Map(), failed: new Map(), skipped: new Map() };
  const ids = new Set(tasks.map((t) => t.id));
  for (const t of tasks) {
    for (const n of t.needs) if (!ids.has(n.id)) throw new Error(`task "${t.id}" needs unknown task "${n.id}"`);
  }
  let stopped = false;
  const fail = (id: string, err: unknown) => {
    if (!res.failed.has(id)) res.failed.set(id, err);
    res.done.delete(id);
    if (failFast) stopped = true;
  };
  // Resolves true when the task succeeded, false when it failed or was skipped; never rejects.
  const settled = new Map<string, Promise<boolean>>();
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const settle = (id: string): Promise<boolean> => {
    let p = settled.get(id);
    if (p) return p;
    const t = byId.get(id)!;
    p = (async () => {
      for (const n of t.needs) {
        if (!(await settle(n.id))) {
          res.skipped.set(t.id, res.failed.has(n.id) ? `dependency "${n.id}" failed` : `dependency "${n.id}" did not start`);
          return false;
        }
        if (n.gate) {
          try {
            await n.gate();
          } catch (err) {
            fail(n.id, err);
            res.skipped.set(t.id, `dependency "${n.id}" failed`);
            return false;
          }
        }
      }
      // Another dependency's gate may have failed a task since; re-check before starting.
      if (t.needs.some((n) => res.failed.has(n.id))) {
        res.skipped.set(t.id, `dependency "${t.needs.find((n) => res.failed.has(n.id))!.id}" failed`);
        return false;
      }
      if (stopped) {
        res.skipped.set(t.id, 'not started after an earlier failure');
        return false;
      }
      try {
        res.done.set(t.id, await t.run());
        return !res.failed.has(t.id);
      } catch (err) {
        fail(t.id, err);
        return false;
      }
    })();
    settled.set(id, p);
    return p;
  };
  await Promise.all(tasks.map((t) => settle(t.id)));
  return res;
}
