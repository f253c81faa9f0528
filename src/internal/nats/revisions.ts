/**
 * The revisions of job states this process knows: written by this process's Results store,
 * or carried by a delivered message (`Tq-Rev`, set at enqueue by a broker that shares this
 * table with the store that recorded the `queued` state). A record over a known revision is a
 * compare-and-set without a read first; when the state has moved on, the write conflicts and
 * the store reads it and tries again, so a stale entry costs one round trip, never a wrong write.
 * Final states are not kept (a record after one needs a read to be refused). With each
 * revision goes the attempt that wrote it (0 for none), so that a record from an older attempt
 * reads the state first and is refused. Bounded: the oldest entries go first.
 *
 * @internal
 */

const capacity = 100_000

/** @internal */
export class Revisions {
  private readonly map = new Map<string, { readonly revision: number; readonly attempt: number }>()

  get(id: string): { readonly revision: number; readonly attempt: number } | undefined {
    return this.map.get(id)
  }

  set(id: string, revision: number, attempt = 0): void {
    this.map.delete(id)
    this.map.set(id, { revision, attempt })
    if (this.map.size > capacity) this.map.delete(this.map.keys().next().value!)
  }

  delete(id: string): void {
    this.map.delete(id)
  }
}
