/**
 * Socket writes of a NATS connection, one per tick instead of one per microtask.
 *
 * The client queues each command in its outbound buffer and writes the buffer in a microtask
 * queued by the first command. Effect resumes fibers in microtasks too, and each worker's steps
 * (a record, an ack, events) resume in microtasks of their own, so what they published left in
 * about two socket writes per job, each costing the client a system call and the server a read
 * (docs/performance.md, "NATS: one socket write per tick"). Here the write waits for
 * `process.nextTick`, which runs once the microtasks of the current task have run: every command
 * queued meanwhile leaves in one write. A buffer over the client's flush threshold is still
 * written at once, as the client does.
 *
 * This reaches into the client's protocol handler (`flushPending`, `outbound`, `pendingLimit`
 * of nats-core 3); when it is not there (another client version), the client is left as it is
 * and `coalesceWrites` says so.
 *
 * @internal
 */
import type { NatsConnection } from "@nats-io/transport-node"

interface Protocol {
  flushPending: () => void
  readonly outbound: { size: () => number }
  readonly pendingLimit: number
}

const protocolOf = (nc: NatsConnection): Protocol | undefined => {
  const p = (nc as unknown as { readonly protocol?: Partial<Protocol> }).protocol
  return p !== undefined && typeof p.flushPending === "function" && typeof p.outbound?.size === "function" &&
      typeof p.pendingLimit === "number"
    ? (p as Protocol)
    : undefined
}

/**
 * Makes the connection write what it queued once per tick; false when its client has no
 * protocol handler this knows (nothing changed).
 * @internal
 */
export const coalesceWrites = (nc: NatsConnection): boolean => {
  const protocol = protocolOf(nc)
  if (protocol === undefined) return false
  const flush = protocol.flushPending.bind(protocol)
  let scheduled = false
  const flushNow = () => {
    scheduled = false
    flush()
  }
  protocol.flushPending = () => {
    if (protocol.outbound.size() >= protocol.pendingLimit) return flush()
    if (scheduled) return
    scheduled = true
    process.nextTick(flushNow)
  }
  return true
}
