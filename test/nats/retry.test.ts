/**
 * Retries and releases never lose a job to JetStream's deduplication. What a nats-server
 * kill -9 leaves behind is set up here by hand, on a server of this file's own: a message id
 * the delayed stream still remembers from an earlier retry of the same queue message (its ack
 * was lost, the message came back and failed again), and a stale delayed copy whose move to
 * the queue went through while its ack was lost (its next move is a duplicate).
 */
import { assert, layer } from "@effect/vitest"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, headers } from "@nats-io/transport-node"
import { Context, Effect, Layer } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Nats from "../../src/layers/Nats.js"
import * as NatsServer from "../utils/natsServer.js"

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (body: Uint8Array) => new TextDecoder().decode(body)
const unique = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`

/** a broker, and a raw JetStream connection to play the server's leftovers with */
const setup = Effect.gen(function*() {
  const nats = yield* NatsServer.Current
  const prefix = unique("retry").replace(/-/g, "_")
  const broker = yield* Effect.map(
    Layer.build(Nats.broker({ servers: nats.url, prefix, visibilityTimeout: "1 second" })),
    Context.get(Broker)
  )
  const nc = yield* Effect.acquireRelease(
    Effect.promise(() => connect({ servers: nats.url })),
    (nc) => Effect.promise(() => nc.close())
  )
  const js = jetstream(nc)
  const jsm = yield* Effect.promise(() => jetstreamManager(nc))
  const publish = (subject: string, msgId: string, runAt?: number, attempts?: number, body = "leftover") =>
    Effect.promise(() => {
      const h = headers()
      if (runAt !== undefined) h.set("Tq-Run-At", String(runAt))
      if (attempts !== undefined) h.set("Tq-Attempts", String(attempts))
      return js.publish(subject, bytes(body), { msgID: msgId, headers: h })
    })
  return { broker, prefix, js, jsm, publish }
})

layer(NatsServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("NATS retries after lost acks", (it) => {
  it.effect("a second retry of one queue message is not dropped as a duplicate of the first", () =>
    Effect.gen(function*() {
      const { broker, jsm, prefix, publish } = yield* setup
      const queue = "twice"
      yield* broker.enqueue(queue, [{ id: "j", body: bytes("job") }])
      const consumer = yield* broker.consumer(queue, { prefetch: 1 })
      const first = yield* consumer.take
      assert.strictEqual(first.attempt, 1)
      // an earlier retry of this queue message landed in the delayed stream and has been moved
      // and run since: the delayed stream still remembers its message id
      const earlier = yield* publish(`${prefix}.delayed.${queue}.j`, "j~r1", Date.now() + 3_600_000)
      yield* Effect.promise(() => jsm.streams.deleteMessage(`${prefix}_delayed`, earlier.seq))

      yield* first.nack({ delay: "200 millis", body: bytes("retried") })
      const second = yield* consumer.take.pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(second.id, "j")
      assert.strictEqual(second.attempt, 2)
      assert.strictEqual(text(second.body), "retried")
      yield* second.ack
    }).pipe(Effect.scoped), 20_000)

  it.effect("a retry over a stale delayed copy whose move is a duplicate still comes back", () =>
    Effect.gen(function*() {
      const { broker, prefix, publish } = yield* setup
      const queue = "stale"
      const consumer = yield* broker.consumer(queue, { prefetch: 1 })
      // the delayed copy was moved to the queue (message id j~d<seq>), its ack was lost: it is
      // still in the delayed stream, and its next move will be a duplicate
      const stale = yield* publish(`${prefix}.delayed.${queue}.j`, "stale", Date.now() + 1_500)
      yield* publish(`${prefix}.q.${queue}.j`, `j~d${stale.seq}`)

      const first = yield* consumer.take
      assert.strictEqual(first.id, "j")
      yield* first.nack({ delay: "100 millis", body: bytes("retried") })
      const second = yield* consumer.take.pipe(Effect.timeout("6 seconds"))
      assert.strictEqual(second.id, "j")
      assert.strictEqual(second.attempt, 2)
      assert.strictEqual(text(second.body), "retried")
      yield* second.ack
      // the stale copy does not run the job again
      yield* Effect.sleep("2 seconds")
      assert.deepStrictEqual(yield* broker.pending(queue), [])
    }).pipe(Effect.scoped), 20_000)

  it.effect("a redelivered copy whose delayed source is still stored (the move's ack lost) is not acked away", () =>
    Effect.gen(function*() {
      const { broker, js, prefix, publish } = yield* setup
      const queue = "source"
      // creates the queue's stream and its workers' consumer (a job delayed for an hour)
      yield* broker.enqueue(queue, [{ id: "later", body: bytes("later"), runAt: Date.now() + 3_600_000 }])
      // a retry of j (attempt 1) waited in the delayed stream and was moved to the queue
      // (message id j~d<seq>, attempts kept); the move's ack of the delayed copy was lost, so
      // the copy is still stored (due in an hour here, so that it stays)
      const source = yield* publish(`${prefix}.delayed.${queue}.j`, "j~r1", Date.now() + 3_600_000, 1, "retried")
      yield* publish(`${prefix}.q.${queue}.j`, `j~d${source.seq}`, undefined, 1, "retried")
      // the moved copy is delivered and its lease runs out (its worker died): a redelivery
      const raw = yield* Effect.promise(() => js.consumers.get(`${prefix}_q_${queue}`, "workers"))
      const fetched = yield* Effect.promise(async () => {
        const batch = await raw.fetch({ max_messages: 1, expires: 2000 })
        const subjects: Array<string> = []
        for await (const m of batch) subjects.push(m.subject)
        return subjects
      })
      assert.deepStrictEqual(fetched, [`${prefix}.q.${queue}.j`])

      const consumer = yield* broker.consumer(queue, { prefetch: 1 })
      const again = yield* consumer.take.pipe(Effect.timeout("6 seconds"))
      assert.strictEqual(again.id, "j")
      assert.strictEqual(text(again.body), "retried")
      // attempts 1 before this copy, its second delivery
      assert.strictEqual(again.attempt, 3)
      yield* again.ack
    }).pipe(Effect.scoped), 20_000)

  it.effect("a second release of one queue message is not dropped as a duplicate of the first", () =>
    Effect.gen(function*() {
      const { broker, jsm, prefix, publish } = yield* setup
      const queue = "release"
      // creates the queue's stream (a job delayed for an hour)
      yield* broker.enqueue(queue, [{ id: "later", body: bytes("later"), runAt: Date.now() + 3_600_000 }])
      // an earlier release of the queue message j is about to get (sequence 2) is still
      // remembered by the queue stream
      const earlier = yield* publish(`${prefix}.q.${queue}.other`, "j~r2")
      assert.strictEqual(earlier.seq, 1)
      yield* Effect.promise(() => jsm.streams.deleteMessage(`${prefix}_q_${queue}`, earlier.seq))
      yield* broker.enqueue(queue, [{ id: "j", body: bytes("job") }])
      const consumer = yield* broker.consumer(queue, { prefetch: 1 })
      const first = yield* consumer.take

      yield* first.nack({ body: bytes("released") })
      const second = yield* consumer.take.pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(second.id, "j")
      assert.strictEqual(text(second.body), "released")
      yield* second.ack
    }).pipe(Effect.scoped), 20_000)

  it.effect("a due retry moved onto an older ready copy of its job replaces it", () =>
    Effect.gen(function*() {
      const { broker, prefix, publish } = yield* setup
      const queue = "older"
      // creates the queue's stream (a job delayed for an hour)
      yield* broker.enqueue(queue, [{ id: "later", body: bytes("later"), runAt: Date.now() + 3_600_000 }])
      // the first copy of j, which ran once already (after a kill -9 nats-server 2.9 can keep
      // it stored, acked, never to be delivered again), and the retry that run made
      yield* publish(`${prefix}.q.${queue}.j`, "j")
      yield* publish(`${prefix}.delayed.${queue}.j`, "j~r1", Date.now(), 1, "retried")
      yield* Effect.sleep("1 second")
      const consumer = yield* broker.consumer(queue, { prefetch: 2 })
      const d = yield* consumer.take.pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(d.id, "j")
      assert.strictEqual(text(d.body), "retried")
      assert.strictEqual(d.attempt, 2)
      yield* d.ack
      assert.deepStrictEqual((yield* broker.pending(queue)).filter((p) => p.id === "j"), [])
    }).pipe(Effect.scoped), 20_000)
})
