/**
 * The order in which the hash pool (hash-pool.ts) serves slices: fair between owners (users),
 * then the job with the fewest bytes left first within an owner.
 *
 * Between owners: each owner has a virtual time, the bytes of the slices it was served (a slice
 * counts as at least `floor` bytes, so a flood of empty hashes is not free); a free worker serves
 * the owner with the least, so owners get equal shares whatever number of jobs each queued (a user
 * with 2,560 jobs gets what a user with one gets). An owner enters at the least virtual time of
 * those present, and is forgotten once it has nothing queued or running: coming back does not
 * buy credit for the time it was away. Ties go to the owner served longest ago, so a newcomer's
 * slice comes before another slice of an owner already being served.
 *
 * Within an owner: fewest bytes left first (ties: arrival order), so its small hash is not stuck
 * behind its large one, and its jobs finish one after another instead of all advancing together:
 * only a few are part-done at a time (a part-done job holds its hash state in a worker and its
 * digests so far). At most `maxStarted` of an owner's jobs are part-done per worker; the others
 * wait unstarted, holding nothing but their parameters.
 *
 * A job's hash state lives in the worker that hashed its first slice, so from then on only that
 * worker serves it (`worker`); a job not yet started goes to whichever worker is free first.
 */

/** What the schedule knows of a job; the pool keeps `remaining` up to date while it runs. */
export interface ScheduledJob<W> {
  readonly owner: string;
  /** Bytes left to hash (fewest first within an owner). Not changed while the job is queued. */
  remaining: number;
  /** Arrival order: ties go to the earlier job. */
  readonly seq: number;
  /** The worker holding the job's hash state once its first slice was taken; null before. */
  worker: W | null;
}

interface Owner<W, J> {
  /** Bytes served (at least `floor` per slice), from the least of the others' at entry. */
  vtime: number;
  /** When last served (a counter), for ties. */
  served: number;
  /** Jobs not started yet, fewest bytes first. */
  fresh: J[];
  /** Started jobs waiting for their next slice, by the worker holding them, fewest bytes first. */
  pinned: Map<W, J[]>;
  /** Started, unfinished jobs per worker (queued or running). */
  started: Map<W, number>;
  /** Jobs taken by next() and not yet put back or finished. */
  running: number;
}

const before = <W>(a: ScheduledJob<W>, b: ScheduledJob<W>): boolean => a.remaining < b.remaining || (a.remaining === b.remaining && a.seq < b.seq);

/** Index of the first job of `list` (sorted) that `job` goes before. */
function lowerBound<W, J extends ScheduledJob<W>>(list: readonly J[], job: J): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(list[mid]!, job)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Waiting jobs in serving order (see the file comment). W identifies a worker. */
export class FairSchedule<W, J extends ScheduledJob<W>> {
  private readonly owners = new Map<string, Owner<W, J>>();
  private tick = 0;
  private queued = 0;

  constructor(
    /** Virtual time a slice of `job` costs its owner (what it asks for, at least a floor). */
    private readonly cost: (job: J) => number,
    /** Part-done jobs an owner may have per worker. */
    private readonly maxStarted = 4,
  ) {}

  /** Jobs waiting for a slice. */
  get waiting(): number {
    return this.queued;
  }

  /** Queues a new job. */
  add(job: J): void {
    const owner = this.owners.get(job.owner) ?? this.enter(job.owner);
    const list = job.worker === null ? owner.fresh : this.pinnedOf(owner, job.worker);
    list.splice(lowerBound(list, job), 0, job);
    this.queued += 1;
  }

  /** The job `worker` serves next, taken out of the queue and charged to its owner; null if none. */
  next(worker: W): J | null {
    let best: Owner<W, J> | null = null;
    let bestJob: J | undefined;
    for (const owner of this.owners.values()) {
      const job = this.candidate(owner, worker);
      if (!job) continue;
      if (!best || owner.vtime < best.vtime || (owner.vtime === best.vtime && owner.served < best.served)) {
        best = owner;
        bestJob = job;
      }
    }
    if (!best || !bestJob) return null;
    const job = bestJob;
    (job.worker === null ? best.fresh : best.pinned.get(worker)!).shift();
    if (job.worker === null) {
      job.worker = worker;
      best.started.set(worker, (best.started.get(worker) ?? 0) + 1);
    }
    best.vtime += this.cost(job);
    best.served = ++this.tick;
    best.running += 1;
    this.queued -= 1;
    return job;
  }

  /** A job taken by next() has more to hash: it queues for its worker again. */
  putBack(job: J): void {
    const owner = this.owners.get(job.owner)!;
    owner.running -= 1;
    const list = this.pinnedOf(owner, job.worker!);
    list.splice(lowerBound(list, job), 0, job);
    this.queued += 1;
  }

  /** A job taken by next() is over (done, failed or cancelled). */
  finish(job: J): void {
    const owner = this.owners.get(job.owner)!;
    owner.running -= 1;
    this.unstart(owner, job);
    this.forgetIfIdle(job.owner, owner);
  }

  /** Takes a waiting job out of the queue (cancelled); false if it was not waiting. */
  remove(job: J): boolean {
    const owner = this.owners.get(job.owner);
    const list = owner && (job.worker === null ? owner.fresh : owner.pinned.get(job.worker));
    if (!owner || !list) return false;
    const i = lowerBound(list, job);
    if (list[i] !== job) return false;
    list.splice(i, 1);
    this.queued -= 1;
    this.unstart(owner, job);
    this.forgetIfIdle(job.owner, owner);
    return true;
  }

  /** Takes out every waiting job held by `worker` (it died) and returns them. */
  dropWorker(worker: W): J[] {
    const dropped: J[] = [];
    for (const [name, owner] of this.owners) {
      const list = owner.pinned.get(worker) ?? [];
      owner.pinned.delete(worker);
      owner.started.delete(worker);
      this.queued -= list.length;
      dropped.push(...list);
      this.forgetIfIdle(name, owner);
    }
    return dropped;
  }

  /** Takes out every waiting job (no worker is left to serve them) and returns them. */
  takeAll(): J[] {
    const taken: J[] = [];
    for (const [name, owner] of this.owners) {
      taken.push(...owner.fresh.splice(0));
      for (const list of owner.pinned.values()) taken.push(...list.splice(0));
      owner.pinned.clear();
      owner.started.clear();
      this.forgetIfIdle(name, owner);
    }
    this.queued = 0;
    return taken;
  }

  private enter(name: string): Owner<W, J> {
    let vtime = Infinity;
    for (const o of this.owners.values()) vtime = Math.min(vtime, o.vtime);
    const owner: Owner<W, J> = { vtime: vtime === Infinity ? 0 : vtime, served: 0, fresh: [], pinned: new Map(), started: new Map(), running: 0 };
    this.owners.set(name, owner);
    return owner;
  }

  // The owner's best job for `worker`: its own started jobs there, or one not started yet.
  private candidate(owner: Owner<W, J>, worker: W): J | undefined {
    const pinned = owner.pinned.get(worker)?.[0];
    const fresh = (owner.started.get(worker) ?? 0) < this.maxStarted ? owner.fresh[0] : undefined;
    if (!pinned) return fresh;
    return fresh && before(fresh, pinned) ? fresh : pinned;
  }

  private pinnedOf(owner: Owner<W, J>, worker: W): J[] {
    let list = owner.pinned.get(worker);
    if (!list) owner.pinned.set(worker, (list = []));
    return list;
  }

  private unstart(owner: Owner<W, J>, job: J): void {
    if (job.worker === null) return;
    const n = (owner.started.get(job.worker) ?? 0) - 1;
    if (n > 0) owner.started.set(job.worker, n);
    else {
      owner.started.delete(job.worker);
      if (owner.pinned.get(job.worker)?.length === 0) owner.pinned.delete(job.worker);
    }
  }

  private forgetIfIdle(name: string, owner: Owner<W, J>): void {
    if (owner.running > 0 || owner.fresh.length > 0) return;
    for (const list of owner.pinned.values()) if (list.length > 0) return;
    this.owners.delete(name);
  }
}
