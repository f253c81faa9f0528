/**
 * Sequences the broker settled recently, by subject. The server removes an acked message from a
 * replicated work-queue stream after the ack is replicated, so a publish that follows an ack at
 * once may still see it; a sequence found here is known to be on its way out.
 *
 * @internal
 */

/** how long a settled (acked, termed, replaced) sequence is remembered, to tell a pending removal from a live message */
const settledMemory = 30_000
const settledCapacity = 10_000

/** @internal */
export class Settled {
  private readonly map = new Map<string, { readonly seq: number; readonly at: number }>()
  add(subject: string, seq: number, now: number) {
    this.map.delete(subject)
    this.map.set(subject, { seq, at: now })
    if (this.map.size > settledCapacity) this.map.delete(this.map.keys().next().value!)
  }
  has(subject: string, seq: number, now: number) {
    const e = this.map.get(subject)
    return e !== undefined && e.seq === seq && now - e.at < settledMemory
  }
}
