/**
 * A NATS connection writes what was queued during one task in one socket write (see
 * src/internal/nats/coalescedWrites.ts): publishes made from separate microtasks, as fibers
 * make them, no longer leave one write each. What is written and its order do not change, and
 * a buffer over the client's flush threshold is still written at once.
 */
import { assert, layer } from "@effect/vitest"
import { connect as natsConnect } from "@nats-io/transport-node"
import { Effect } from "effect"
import { Socket } from "node:net"
import { resolve } from "../../src/internal/nats/config.js"
import { connect } from "../../src/internal/nats/connection.js"
import * as NatsServer from "../utils/natsServer.js"

/** counts the socket writes to `port` made while it is installed */
const countWrites = (port: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const counter = { writes: 0 }
      const original = Socket.prototype.write
      Socket.prototype.write = function(this: Socket, ...args: Array<unknown>) {
        if (this.remotePort === port) counter.writes++
        return (original as (...a: Array<unknown>) => boolean).apply(this, args)
      } as typeof Socket.prototype.write
      return { counter, original }
    }),
    ({ original }) => Effect.sync(() => { Socket.prototype.write = original })
  ).pipe(Effect.map(({ counter }) => counter))

/** our connection, and a plain client subscribed to `subject` that collects what arrives */
const setup = (subject: string) =>
  Effect.gen(function*() {
    const nats = yield* NatsServer.Current
    const config = yield* resolve({ servers: nats.url, name: "coalesced-writes" })
    const conn = yield* connect(config.connection)
    const reader = yield* Effect.acquireRelease(
      Effect.promise(() => natsConnect({ servers: nats.url })),
      (nc) => Effect.promise(() => nc.close())
    )
    const received: Array<string> = []
    reader.subscribe(subject, {
      callback: (_err, msg) => {
        received.push(msg.string())
      }
    })
    yield* Effect.promise(() => reader.flush())
    yield* Effect.promise(() => conn.nc.flush())
    return { nats, nc: conn.nc, received, readerFlush: Effect.promise(() => reader.flush()) }
  })

const nextTask = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

layer(NatsServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("NATS coalesced writes", (it) => {
  it.scoped("publishes from 50 microtasks leave in one socket write, all delivered in order", () =>
    Effect.gen(function*() {
      const subject = `cw.${crypto.randomUUID().slice(0, 8)}`
      const { nats, nc, readerFlush, received } = yield* setup(subject)
      const counter = yield* countWrites(nats.port)
      yield* Effect.promise(async () => {
        for (let i = 0; i < 50; i++) {
          await Promise.resolve()
          nc.publish(subject, String(i))
        }
      })
      yield* nextTask
      assert.strictEqual(counter.writes, 1)
      yield* Effect.promise(() => nc.flush())
      yield* readerFlush
      assert.deepStrictEqual(received, Array.from({ length: 50 }, (_, i) => String(i)))
    }))

  it.scoped("a buffer over the client's flush threshold is written at once", () =>
    Effect.gen(function*() {
      const subject = `cw.${crypto.randomUUID().slice(0, 8)}`
      const { nats, nc, readerFlush, received } = yield* setup(subject)
      const counter = yield* countWrites(nats.port)
      const big = "x".repeat(40 * 1024)
      yield* Effect.sync(() => {
        nc.publish(subject, "small")
        assert.strictEqual(counter.writes, 0)
        nc.publish(subject, big)
        // written in this synchronous step, before any microtask or tick
        assert.strictEqual(counter.writes, 1)
      })
      yield* Effect.promise(() => nc.flush())
      yield* readerFlush
      assert.deepStrictEqual(received.map((m) => m.length), [5, big.length])
    }))
})
