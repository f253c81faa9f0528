/**
 * A consumer left by a kill -9 of nats-server 2.9 with ack-pending entries for messages its
 * stream no longer holds delivers nothing (see src/internal/nats/stuckAcks.ts). The fixture is
 * the queue stream of a chaos run's server at such a stall: 1,425 messages, 1,379 of them never
 * delivered, behind 30 ack-pending entries of messages that are gone (ack floor 10560).
 */
import { assert, describe, it } from "@effect/vitest"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { execFileSync } from "node:child_process"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { Context, Effect, Layer } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Nats from "../../src/layers/Nats.js"
import * as NatsServer from "../utils/natsServer.js"

const fixture = join(import.meta.dirname, "fixtures", "stalled-queue.tgz")
const stream = "chaos512645_q_chaos-nats"

/** a server whose store holds the stalled queue stream (a copy of the fixture) */
const stalledServer = Effect.gen(function*() {
  const server = yield* NatsServer.start()
  yield* server.stop("SIGTERM")
  const streams = join(server.storeDir, "jetstream", "$G", "streams")
  mkdirSync(streams, { recursive: true })
  execFileSync("tar", ["xzf", fixture, "-C", streams])
  yield* server.start
  return server
})

const client = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const nc = await connect({ servers: url })
      return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) }
    }),
    ({ nc }) => Effect.promise(() => nc.close())
  )

describe("NATS consumer stalled by ack-pending entries of lost messages", () => {
  it.scopedLive("a plain pull gets nothing; the library's consumer repairs it and drains the queue", () =>
    Effect.gen(function*() {
      const server = yield* stalledServer
      const { js, jsm } = yield* client(server.url)
      const before = yield* Effect.promise(() => jsm.consumers.info(stream, "workers"))
      assert.strictEqual(before.num_pending, 1379)
      assert.strictEqual(before.num_ack_pending, 30)
      assert.strictEqual(before.ack_floor.stream_seq, 10560)

      // the stall: once the entries are due for redelivery (AckWait 3 s after the restart), pulls get
      // nothing although 1,379 messages wait
      yield* Effect.sleep("4 seconds")
      const pulled = yield* Effect.promise(async () => {
        const c = await js.consumers.get(stream, "workers")
        let n = 0
        for (let i = 0; i < 2; i++) {
          for await (const m of await c.fetch({ max_messages: 4, expires: 3000 })) {
            n++
            m.nak()
          }
        }
        return n
      })
      assert.strictEqual(pulled, 0)

      // the library's consumer notices the stall and acks the entries away, then drains the queue
      const broker = yield* Effect.map(
        Layer.build(Nats.broker({ servers: server.url, prefix: "chaos512645", visibilityTimeout: "3 seconds" })),
        Context.get(Broker)
      )
      const consumer = yield* broker.consumer("chaos-nats", { prefetch: 16 })
      const ids = new Set<string>()
      while (ids.size < 1379) {
        const d = yield* consumer.take.pipe(Effect.timeout("30 seconds"))
        ids.add(d.id)
        yield* d.ack
      }
      const after = yield* Effect.promise(() => jsm.consumers.info(stream, "workers"))
      assert.strictEqual(after.num_pending, 0)
      assert.isAtLeast(after.ack_floor.stream_seq, 23697)
    }), { timeout: 90_000 })
})
