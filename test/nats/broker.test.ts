/**
 * What the NATS broker adds to the conformance suites: how it uses JetStream. Poison messages
 * go to the dead-letter stream; long retry delays leave worker slots free; a full queue refuses
 * jobs; an id waits in one place only; closing a consumer leaves no subscription behind; results
 * expire with the bucket's TTL.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Option } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Nats from "../../src/layers/Nats.js"
import { Results } from "../../src/Results.js"
import * as NatsServer from "../utils/natsServer.js"

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (body: Uint8Array) => new TextDecoder().decode(body)
const unique = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`

const brokerWith = (options: Partial<Nats.Options> = {}) =>
  Effect.flatMap(NatsServer.Current, (nats) =>
    Effect.map(
      Layer.build(Nats.broker({ servers: nats.url, prefix: unique("broker"), visibilityTimeout: "1 second", ...options })),
      Context.get(Broker)
    ))

/** the subscriptions the server has for the connection named `name` */
const subscriptionsOf = (name: string) =>
  Effect.flatMap(NatsServer.Current, (nats) => subscriptionsAt(nats.monitorPort, name))
const subscriptionsAt = (monitorPort: number, name: string) =>
  Effect.tryPromise(async () => {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/connz?subs=1`)
    const body = (await res.json()) as {
      readonly connections: ReadonlyArray<{ readonly name?: string; readonly subscriptions_list?: ReadonlyArray<string> }>
    }
    return body.connections.find((c) => c.name === name)?.subscriptions_list ?? []
  })

layer(NatsServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("NATS broker", (it) => {
  it.effect("a message whose lease is lost more than maxRedeliveries times is dead-lettered and terminated", () =>
    Effect.gen(function*() {
      const broker = yield* brokerWith({ maxRedeliveries: 1, visibilityTimeout: "500 millis" })
      const queue = unique("poison")
      yield* broker.enqueue(queue, [{ id: "poison", body: bytes("boom") }])
      const consumer = yield* broker.consumer(queue, { prefetch: 3, autoExtend: false })
      // two deliveries whose leases run out: a crashed worker, twice
      const first = yield* consumer.take
      const second = yield* consumer.take
      assert.deepStrictEqual([first.attempt, second.attempt], [1, 2])
      // the third delivery is not handed out: the message goes to the dead letters
      const third = yield* Effect.fork(consumer.take)
      for (let i = 0; i < 100 && (yield* broker.deadLetters(queue)).length === 0; i++) yield* Effect.sleep("50 millis")
      const dead = yield* broker.deadLetters(queue)
      assert.strictEqual(dead.length, 1)
      assert.strictEqual(dead[0]!.id, "poison")
      assert.strictEqual(text(dead[0]!.body), "boom")
      assert.include(dead[0]!.reason, "lease lost 2 times")
      assert.deepStrictEqual(yield* broker.pending(queue), [])
      yield* Effect.sleep("700 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(third)), "a terminated message is not delivered again")
      yield* Fiber.interrupt(third)
    }).pipe(Effect.scoped), 15_000)

  it.effect("long retry delays leave the worker slots free (5 delayed nacks with prefetch and MaxAckPending 5)", () =>
    Effect.gen(function*() {
      const broker = yield* brokerWith({ maxAckPending: 5 })
      const queue = unique("slots")
      yield* broker.enqueue(queue, Array.from({ length: 8 }, (_, i) => ({ id: `m${i}`, body: bytes(`m${i}`) })))
      const consumer = yield* broker.consumer(queue, { prefetch: 5 })
      for (let i = 0; i < 5; i++) {
        const d = yield* consumer.take
        yield* d.nack({ delay: "1 minute", body: bytes(`${d.id} retried`) })
      }
      const next = yield* consumer.take.pipe(Effect.timeout("3 seconds"))
      assert.strictEqual(next.id, "m5")
      yield* next.ack
      const pending = yield* broker.pending(queue)
      const delayed = pending.filter((p) => p.state === "delayed")
      assert.deepStrictEqual(delayed.map((p) => text(p.body)).sort(), ["m0", "m1", "m2", "m3", "m4"].map((m) => `${m} retried`))
      // m6 and m7 wait, unless the consumer has read them ahead (then they count as delivered)
      for (const p of pending.filter((p) => p.state === "ready")) assert.include(["m6", "m7"], p.id)
      assert.strictEqual(pending.at(-1)?.state, "delayed")
    }).pipe(Effect.scoped), 15_000)

  it.effect("a full queue refuses new jobs with BrokerError and keeps the ones it accepted (discard: new)", () =>
    Effect.gen(function*() {
      const broker = yield* brokerWith({ maxQueueMessages: 2 })
      const queue = unique("full")
      yield* broker.enqueue(queue, [{ id: "a", body: bytes("a") }, { id: "b", body: bytes("b") }])
      const refused = yield* Effect.flip(broker.enqueue(queue, [{ id: "c", body: bytes("c") }]))
      assert.strictEqual(refused._tag, "BrokerError")
      assert.include(refused.message, "maximum messages")
      assert.deepStrictEqual((yield* broker.pending(queue)).map((p) => p.id), ["a", "b"])
    }).pipe(Effect.scoped))

  it.effect("an id waits in one place: delayed and ready copies of one id are not both enqueued", () =>
    Effect.gen(function*() {
      const broker = yield* brokerWith()
      const queue = unique("once")
      const later = Date.now() + 60_000
      yield* broker.enqueue(queue, [{ id: "d", body: bytes("delayed"), runAt: later }, { id: "r", body: bytes("ready") }])
      yield* broker.enqueue(queue, [{ id: "d", body: bytes("now") }, { id: "r", body: bytes("later"), runAt: later }])
      const pending = yield* broker.pending(queue)
      assert.deepStrictEqual(pending.map((p) => [p.id, p.state, text(p.body)]), [["r", "ready", "ready"], ["d", "delayed", "delayed"]])
      assert.strictEqual(pending[1]!.runAt, later)
    }).pipe(Effect.scoped))

  it.effect("an id waits in one place, in large enqueues too: listed when few wait delayed, asked about one by one when many do", () =>
    Effect.gen(function*() {
      const broker = yield* brokerWith()
      const later = Date.now() + 60_000
      const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`)
      for (const [label, delayedCount] of [["few", 20], ["many", 100]] as const) {
        const queue = unique(label)
        const delayed = ids("d", delayedCount)
        yield* broker.enqueue(queue, delayed.map((id) => ({ id, body: bytes("delayed"), runAt: later })))
        // 16 or more ready messages: the delayed ids are listed (20 wait) or each asked about (100 wait)
        const fresh = ids("n", 5)
        yield* broker.enqueue(queue, [...delayed.slice(0, 20), ...fresh].map((id) => ({ id, body: bytes("ready") })))
        const pending = yield* broker.pending(queue)
        assert.deepStrictEqual(pending.filter((p) => p.state === "ready").map((p) => p.id).sort(), fresh, label)
        assert.strictEqual(pending.filter((p) => p.state === "delayed").length, delayedCount, label)
      }
    }).pipe(Effect.scoped))

  it.effect("closing a consumer stops its pull: no subscription is left, and every message but the acked one comes back", () =>
    Effect.gen(function*() {
      const name = unique("conn")
      const broker = yield* brokerWith({ name })
      const queue = unique("close")
      yield* broker.enqueue(queue, Array.from({ length: 6 }, (_, i) => ({ id: `c${i}`, body: bytes(`c${i}`) })))
      const before = (yield* subscriptionsOf(name)).length
      const taken = yield* Effect.scoped(Effect.gen(function*() {
        const consumer = yield* broker.consumer(queue, { prefetch: 3 })
        const a = yield* consumer.take
        const b = yield* consumer.take
        yield* a.ack
        assert.isAbove((yield* subscriptionsOf(name)).length, before, "the pull has a subscription while open")
        return b.id
      }))
      assert.strictEqual((yield* subscriptionsOf(name)).length, before, "the pull's subscription is gone")
      // every message but the acked one comes back: the released and read ones at once, those
      // still inside the client after AckWait (1 second here)
      const again = yield* broker.consumer(queue, { prefetch: 5 })
      const ids: Array<string> = []
      for (let i = 0; i < 5; i++) {
        const d = yield* again.take.pipe(Effect.timeout("2 seconds"))
        ids.push(d.id)
        yield* d.ack
      }
      assert.include(ids, taken)
      assert.strictEqual(new Set(ids).size, 5, `taken: ${ids.join(", ")}`)
    }).pipe(Effect.scoped), 15_000)

  it.effect("results expire with the bucket's TTL", () =>
    Effect.gen(function*() {
      const nats = yield* NatsServer.Current
      const results = Context.get(
        yield* Layer.build(Nats.results({ servers: nats.url, prefix: unique("ttl"), resultsTtl: "1 second" })),
        Results
      )
      yield* results.record([{ id: "t", status: "successful", message: bytes("m"), result: bytes("r"), at: 1 }])
      assert.isTrue(Option.isSome(yield* results.getJob("t")))
      assert.deepStrictEqual(yield* results.list("successful"), ["t"])
      yield* Effect.sleep("1600 millis")
      assert.isTrue(Option.isNone(yield* results.getJob("t")))
      assert.isTrue(Option.isNone(yield* results.getResult("t")))
      assert.deepStrictEqual(yield* results.list("successful"), [])
    }).pipe(Effect.scoped), 10_000)

  it.effect("invalid options fail the layer with NatsError InvalidOptions", () =>
    Effect.gen(function*() {
      const nats = yield* NatsServer.Current
      const e = yield* Effect.flip(Effect.scoped(Layer.build(Nats.layer({ servers: nats.url, prefix: "no.dots" }))))
      assert.strictEqual(e._tag, "NatsError")
      assert.strictEqual(e.reason, "InvalidOptions")
    }))
})
