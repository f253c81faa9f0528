/**
 * Ghosts: after a kill -9, nats-server 2.9 can keep a message whose ack its consumer kept
 * (stored, at or below the consumer's ack floor, never delivered again). A ghost on a job's
 * subject does not count as the job being there: publishes go over it and delete it.
 *
 * @internal
 */
import { Effect } from "effect"
import type { BrokerError } from "../../Broker.js"
import { brokerError } from "./brokerContext.js"
import type { Connection } from "./connection.js"
import { isConsumerNotFound, isStreamNotFound, tryJs } from "./jetstream.js"
import type { Names } from "./names.js"

/** @internal */
export class Ghosts {
  /** the ack-floor requests in flight, by stream: concurrent asks for one stream share one */
  private readonly floors = new Map<string, Promise<number>>()

  constructor(private readonly conn: Connection, private readonly names: Names) {}

  /**
   * The stream sequence up to which `stream`'s consumer (the workers' of a queue, the
   * scheduler's of the delayed stream) has acked everything: 0 when it has none.
   */
  private ackFloor(stream: string): Promise<number> {
    const inFlight = this.floors.get(stream)
    if (inFlight !== undefined) return inFlight
    const n = this.names
    const asked = this.conn.jsm.consumers.info(stream, stream === n.delayedStream ? n.scheduler : n.workers).then(
      (info) => info.ack_floor.stream_seq,
      (cause) => {
        if (isStreamNotFound(cause) || isConsumerNotFound(cause)) return 0
        throw cause
      }
    ).finally(() => this.floors.delete(stream))
    this.floors.set(stream, asked)
    return asked
  }

  /**
   * Whether message `seq` of a work-queue stream is a ghost: at or below its consumer's ack
   * floor, so acked already, and still stored. nats-server 2.9 leaves such messages after a
   * kill -9 (the consumer's state kept the ack, the stream lost the removal); they are never
   * delivered again, so a job whose subject holds one would never run.
   */
  is(stream: string, seq: number): Effect.Effect<boolean, BrokerError> {
    return seq <= 0
      ? Effect.succeed(false)
      : tryJs(() => this.ackFloor(stream), brokerError(`cannot read the consumer of ${stream}`)).pipe(
        Effect.map((floor) => seq <= floor)
      )
  }

  /** deletes a ghost message; one already gone is fine */
  drop(stream: string, seq: number): Effect.Effect<void> {
    return tryJs(
      () =>
        this.conn.jsm.streams.deleteMessage(stream, seq, false).catch((cause) => {
          if (cause instanceof Error && /not found|no message/i.test(cause.message)) return false
          throw cause
        }),
      (e) => e
    ).pipe(
      Effect.catchAll((e) => Effect.logWarning(`cannot delete stale message ${seq} of ${stream}; it is left in place`, e))
    )
  }
}
