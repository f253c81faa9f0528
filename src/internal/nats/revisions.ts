/**
 * The revisions of job states this process knows: written by this process's Results store,
 * or carried by a delivered message (`Tq-Rev`, set at enqueue by a broker that shares this
 * table with the store that recorded the `queued` state). A record over a known revision is a
 * compare-and-set without a read first; when the state has moved on, the write conflicts and
 * the store reads it and tries again, so a stale entry costs one round trip, never a wrong write.
 * Final states are not kept (a record after one needs a read to be refused). Bounded: the
 * oldest entries go first.
 *
 * @internal
 */

const capacity = 100_000

/** @internal */
export class Revisions {
  private readonly map = new Map<string, number>()

  get(id: string): number | undefined {
    return this.map.get(id)
  }

  set(id: string, revision: number): void {
    this.map.delete(id)
    this.map.set(id, revision)
    if (this.map.size > capacity) this.map.delete(this.map.keys().next().value!)
  }

  delete(id: string): void {
    this.map.delete(id)
  }
}
