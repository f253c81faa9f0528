/**
 * Stuck acks: after a kill -9, nats-server 2.9 can restart with a consumer whose state still
 * holds ack-pending entries for messages its work-queue stream no longer has (the stream kept
 * their removal on ack, the consumer's state lost the acks). The server keeps putting those
 * entries on its redelivery queue, and each try to load one fails and parks the consumer until
 * the next wake-up (a new pull, a new message): the pull consumer delivers nothing, however many
 * messages wait. It cleans such entries itself only below the stream's first sequence, which a
 * ghost (see ghosts.ts) keeps low.
 *
 * The repair acks, on the consumer, every sequence between its ack floor and its last delivered
 * one that the stream does not hold: an ack of a sequence that is not pending changes nothing,
 * one of a pending entry removes it (the server takes the delivery sequence from the entry), and
 * a message the stream still holds (one a live worker works on) is never acked.
 *
 * @internal
 */
import type { Connection } from "./connection.js"
import type { Reader } from "./jetstream.js"

/** what a repair found and did */
export interface StuckAcksRepair {
  readonly ackFloor: number
  readonly delivered: number
  readonly ackPending: number
  readonly pending: number
  /** sequences acked: in (ack floor, delivered] and not held by the stream */
  readonly acked: number
}

/**
 * Repairs `consumer` of the work-queue `stream` (its messages match `filter`) when it has both
 * undelivered messages and ack-pending entries: gives what it did, or undefined when there was
 * nothing to look at. Costs one consumer info when nothing is wrong; a repair reads each message
 * the stream holds between the ack floor and the last delivered one (those in flight).
 */
export const repairStuckAcks = async (
  conn: Connection,
  read: Reader,
  stream: string,
  filter: string,
  consumer: string
): Promise<StuckAcksRepair | undefined> => {
  const info = await conn.jsm.consumers.info(stream, consumer)
  const ackFloor = info.ack_floor.stream_seq
  const delivered = info.delivered.stream_seq
  if (info.num_pending === 0 || info.num_ack_pending === 0 || delivered <= ackFloor) return undefined
  let acked = 0
  for (let seq = ackFloor + 1; seq <= delivered;) {
    const held = (await read.next(stream, filter, seq))?.seq ?? Infinity
    for (; seq < held && seq <= delivered; seq++) {
      // $JS.ACK.<stream>.<consumer>.<delivered count>.<stream seq>.<consumer seq>.<time>.<pending>:
      // consumer seq 0 never matches the ack floor, so an ack of a sequence that is not pending
      // cannot move it
      conn.nc.publish(`$JS.ACK.${stream}.${consumer}.1.${seq}.0.0.0`, "+ACK")
      acked++
    }
    seq = held + 1
  }
  if (acked > 0) await conn.nc.flush()
  return { ackFloor, delivered, ackPending: info.num_ack_pending, pending: info.num_pending, acked }
}
