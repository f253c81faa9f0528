/**
 * When was a message received? The client's iterator does not say, and `consume()` reads ahead,
 * so a message may wait in the client before the consumer reads it (when it holds `prefetch`
 * messages already). Observations of the client's received-message count bound it: the n-th
 * message arrived after the last observation that counted fewer than n. One is made at each
 * read and at each tick of the lease keeper (every AckWait/4), so a message that waited may look
 * up to that much older than it is.
 *
 * Stalls of the process (paused by SIGSTOP, starved) are noted too: a heartbeat of the broker
 * notes the time every `beat` ms; a gap of more than two beats is a stall. What arrived from the server during a
 * stall is read after it, and an observation made right after it (a timer can run before the
 * socket is read) does not show it yet: a bound on a message's arrival that falls from the
 * stall's start to shortly after its end is moved back to the start, so that a message delivered
 * during a pause never gets a lease the server did not give it.
 *
 * @internal
 */

/**
 * Stalls of the process, shared by the consumers of a broker: `alive` is called by a heartbeat
 * every `beat` ms and at every observation.
 *
 * @internal
 */
export class Stalls {
  private lastBeat: number
  private stall = { from: -Infinity, to: -Infinity }

  /** `beat`: the heartbeat's period, in milliseconds */
  constructor(readonly beat: number, now: number) {
    this.lastBeat = now
  }

  /** notes that the process runs at `now` */
  alive(now: number): void {
    if (now - this.lastBeat > 2 * this.beat) this.stall = { from: this.lastBeat, to: now }
    this.lastBeat = Math.max(this.lastBeat, now)
  }

  /** `bound`, moved back to the start of a stall it falls in or shortly after */
  bound(bound: number): number {
    return bound > this.stall.from && bound <= this.stall.to + 2 * this.beat ? this.stall.from : bound
  }
}

/**
 * The observations of one pull's received-message count.
 *
 * @internal
 */
export class Arrivals {
  private samples: Array<{ readonly received: number; readonly at: number }>

  constructor(private readonly stalls: Stalls, now: number) {
    this.samples = [{ received: 0, at: now }]
  }

  /** a new pull: its count of received messages starts again from 0 */
  reset(now: number): void {
    this.samples = [{ received: 0, at: now }]
  }

  /** notes that the client had received `received` messages at `now` */
  observe(received: number, now: number): void {
    this.stalls.alive(now)
    const samples = this.samples
    // the same count seen again: the next message had not arrived by now either
    if (received === samples[samples.length - 1]!.received) samples[samples.length - 1] = { received, at: now }
    else samples.push({ received, at: now })
  }

  /** the time after which the `ordinal`-th message of the pull arrived */
  arrivedAfter(ordinal: number): number {
    const samples = this.samples
    while (samples.length > 1 && samples[1]!.received < ordinal) samples.shift()
    return samples[0]!.at
  }
}
