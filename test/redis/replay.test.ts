/**
 * Every mutating script is safe to run twice: ioredis re-sends, after a reconnect, the commands
 * whose replies it had not received, and Redis may have run them already. Here each script is
 * run twice with the same arguments, as the re-send would.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { Redis } from "ioredis"
import { queueKeys, resultsKeys } from "../../src/internal/redis/keys.js"
import { packer } from "../../src/internal/redis/pack.js"
import * as Scripts from "../../src/internal/redis/scripts.js"
import * as RedisServer from "../utils/redisServer.js"

/** a plain ioredis client on the group's redis-server, with the scripts defined on it */
class Client extends Context.Tag("test/replay/Client")<Client, Redis>() {}

const client = Layer.scoped(
  Client,
  Effect.flatMap(RedisServer.Current, (server) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const redis = new Redis({ port: server.port })
        for (const s of Scripts.all) redis.defineCommand(s.name, { lua: s.lua, numberOfKeys: s.keys })
        return redis
      }),
      (redis) => Effect.sync(() => redis.disconnect())
    ))
).pipe(Layer.provide(RedisServer.layer()))

type Arg = string | number | Buffer

/** values packed into one argument, as the record and settle scripts read them */
const pack = (values: ReadonlyArray<string | number>): Buffer => {
  const p = packer()
  for (const v of values) p.string(String(v))
  return p.done()
}

const run = (script: Scripts.Script, keys: ReadonlyArray<string>, args: ReadonlyArray<Arg>) =>
  Effect.flatMap(Client, (client) => Effect.promise(() => (client as any)[script.name](...keys, ...args) as Promise<any>))
/** the same call twice, as a re-send after a lost reply */
const twice = (script: Scripts.Script, keys: ReadonlyArray<string>, args: ReadonlyArray<Arg>) =>
  Effect.zip(run(script, keys, args), run(script, keys, args))

const vt = 30_000
const claimArgs = (k: ReturnType<typeof queueKeys>, now: number, n: number, replyKey: string) =>
  [k.job, now, now + vt, n, 10, 64, vt, "", replyKey, 0]

/** a fresh queue and results store, with the keys of the claim and settle scripts */
const settleSetup = Effect.map(Client, (client) => {
  const k = queueKeys("replay", crypto.randomUUID())
  const r = resultsKeys(`replay-${crypto.randomUUID()}`)
  const claimKeys = [k.ready, k.delayed, k.leases, k.signal, k.dead]
  return { client, k, r, claimKeys, settleKeys: [...claimKeys, r.successful, r.failed] }
})

layer(client, { excludeTestServices: true, timeout: "30 seconds" })("Redis scripts run twice", (it) => {
  it.effect("enqueue, claim and ack: the second run changes nothing and answers like the first", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const k = queueKeys("replay", crypto.randomUUID())
      const claimKeys = [k.ready, k.delayed, k.leases, k.signal, k.dead]
      const [added, again] = yield* twice(Scripts.enqueue, [k.ready, k.delayed, k.signal], [k.job, 0, 64, "a", "A", 0, "b", "B", 0, "c", "C", 0])
      assert.deepStrictEqual([added, again], [3, 0])
      assert.deepStrictEqual(yield* Effect.promise(() => client.lrange(k.ready, 0, -1)), ["a", "b", "c"])

      const [first, second] = yield* twice(Scripts.claim, claimKeys, claimArgs(k, 1, 2, `${k.tag}:r:test:1`))
      assert.deepStrictEqual(first.slice(1), ["a", 1, "A", 0, "b", 1, "B", 0])
      assert.deepStrictEqual(second.slice(1), first.slice(1), "the re-sent claim gets the same deliveries")
      assert.strictEqual(yield* Effect.promise(() => client.hget(`${k.job}a`, "attempt")), "1", "attempt counted once")
      assert.deepStrictEqual(yield* Effect.promise(() => client.lrange(k.ready, 0, -1)), ["c"])

      // ack of a and b, claiming one more for the freed slots; the old reply key is deleted
      const ackArgs = [k.job, 2, 2 + vt, 1, 10, 64, vt, "", `${k.tag}:r:test:2`, 1, `${k.tag}:r:test:1`, "a", "1", "b", "1"]
      const [acked, ackedAgain] = yield* twice(Scripts.ack, claimKeys, ackArgs)
      assert.deepStrictEqual(acked.slice(0, 3), [2, 1, 1])
      assert.deepStrictEqual(acked.slice(4), ["c", 1, "C", 0])
      assert.deepStrictEqual(ackedAgain.slice(0, 3), [2, 1, 1], "a re-sent ack reports what the first applied")
      assert.deepStrictEqual(ackedAgain.slice(4), ["c", 1, "C", 0])
      assert.strictEqual(yield* Effect.promise(() => client.exists(`${k.tag}:r:test:1`)), 0)
      assert.strictEqual(yield* Effect.promise(() => client.hget(`${k.job}c`, "attempt")), "1")

      // a different call (another reply key) is fenced as usual
      const stale = yield* run(Scripts.ack, claimKeys, [k.job, 3, 3 + vt, 0, 10, 64, vt, "", `${k.tag}:r:test:3`, 0, "a", "1"])
      assert.deepStrictEqual(stale, [1, 0])

      // release, twice: one put back
      const released = yield* twice(Scripts.release, [k.ready, k.leases, k.signal], [k.job, 4, 64, "", 2, `${k.tag}:r:test:2`, `${k.tag}:r:test:3`, "c", "1"])
      assert.deepStrictEqual(released, [1, 0])
      assert.deepStrictEqual(yield* Effect.promise(() => client.lrange(k.ready, 0, -1)), ["c"])
      const left = yield* Effect.promise(() => client.keys(`${k.tag}*`))
      assert.deepStrictEqual(left.sort(), [`${k.job}c`, k.ready, k.signal].sort())
    }))

  it.effect("nack, deadLetter and extend: the second run finds the lease gone or renewed, and changes nothing", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const k = queueKeys("replay", crypto.randomUUID())
      const claimKeys = [k.ready, k.delayed, k.leases, k.signal, k.dead]
      yield* run(Scripts.enqueue, [k.ready, k.delayed, k.signal], [k.job, 0, 64, "a", "A", 0, "b", "B", 0])
      yield* run(Scripts.claim, claimKeys, claimArgs(k, 1, 2, ""))
      const nacked = yield* twice(Scripts.nack, [k.ready, k.delayed, k.leases, k.signal, k.retrying], [k.job, 2, 64, "a", "1", 1000, "1", "A2"])
      assert.deepStrictEqual(nacked, [1, 0])
      assert.deepStrictEqual(yield* Effect.promise(() => client.zrange(k.delayed, 0, -1, "WITHSCORES")), ["a", "1002"])
      const dead = yield* twice(Scripts.deadLetter, [k.leases, k.dead], [k.job, 3, "b", "1", "bad"])
      assert.deepStrictEqual(dead, [1, 0])
      assert.strictEqual(yield* Effect.promise(() => client.llen(k.dead)), 1)
      const extended = yield* twice(Scripts.extend, [k.leases, k.marker], [k.job, 4, 4 + vt, "b", "1"])
      assert.deepStrictEqual(extended.map((r: Array<number>) => r[1]), [0, 0])
      // requeueing the dead letter: the second run finds none and changes nothing
      const requeued = yield* twice(Scripts.dead, [k.ready, k.dead, k.signal], [k.job, 5, 64, "requeue", "1"])
      assert.deepStrictEqual(requeued, [["b"], []])
      assert.deepStrictEqual(yield* Effect.promise(() => client.lrange(k.ready, 0, -1)), ["b"])
      assert.strictEqual(yield* Effect.promise(() => client.llen(k.dead)), 0)
    }))

  it.effect("record: a final record sent again is reported applied once more, and changes nothing", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const r = resultsKeys(`replay-${crypto.randomUUID()}`)
      const rec = (status: string, at: number, message: string) => [r.job, 0, 0, pack(["j", status, message, at, "1", `result@${at}`, ""])]
      yield* run(Scripts.record, [r.successful, r.failed], rec("processing", 1, "m1"))
      const [first, again] = yield* twice(Scripts.record, [r.successful, r.failed], rec("successful", 2, "m2"))
      assert.deepStrictEqual([first, again], [[1], [1]])
      // a different final record is refused: the first final record won
      assert.deepStrictEqual(yield* run(Scripts.record, [r.successful, r.failed], rec("successful", 3, "m3")), [0])
      assert.deepStrictEqual(yield* run(Scripts.record, [r.successful, r.failed], rec("failed", 2, "m2")), [0])
      assert.deepStrictEqual(yield* Effect.promise(() => client.hmget(`${r.job}j`, "status", "message", "result")), ["successful", "m2", "result@2"])
      assert.deepStrictEqual(yield* Effect.promise(() => client.zrange(r.successful, 0, -1)), ["j"])
    }))

  it.effect("enqueueRecorded: a re-send puts nothing twice, and finds a finished job left alone", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const k = queueKeys("replay", crypto.randomUUID())
      const r = resultsKeys(`replay-${crypto.randomUUID()}`)
      const keys = [k.ready, k.delayed, k.signal, r.successful, r.failed]
      const args = (at: number) => [
        k.job, at, 64, r.job, 0, "", "", "",
        pack(["a", "queued", "ma", at, "0", "", "", "b", "queued", "mb", at, "0", "", ""]),
        "", "",
        "A", 0, "B", 0
      ]
      const [first, again] = yield* twice(Scripts.enqueueRecorded, keys, args(1))
      assert.deepStrictEqual([first, again], [[1, 1], [0, 0]])
      assert.deepStrictEqual(yield* Effect.promise(() => client.lrange(k.ready, 0, -1)), ["a", "b"])
      // a finished, b's message gone while still queued (an enqueue cut between two writes)
      yield* run(Scripts.record, [r.successful, r.failed], [r.job, 0, 0, pack(["a", "successful", "done", 2, "0", "", ""])])
      yield* Effect.promise(() => client.del(k.ready, `${k.job}a`, `${k.job}b`))
      // the producer's retry: a stays finished and is not put in its queue; b is put back
      assert.deepStrictEqual(yield* run(Scripts.enqueueRecorded, keys, args(3)), [0, 0])
      assert.deepStrictEqual(yield* Effect.promise(() => client.lrange(k.ready, 0, -1)), ["b"])
      assert.deepStrictEqual(yield* Effect.promise(() => client.hmget(`${r.job}a`, "status", "message")), ["successful", "done"])
    }))

  it.effect("enqueueRecorded with a workflow's definition: a re-send goes on, another definition is refused", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const k = queueKeys("replay", crypto.randomUUID())
      const r = resultsKeys(`replay-${crypto.randomUUID()}`)
      const keys = [k.ready, k.delayed, k.signal, r.successful, r.failed]
      const definition = `${r.kv}wf:w`
      const args = (value: string) => [
        k.job, 1, 64, r.job, 0, "create", definition, value,
        pack(["w/0", "queued", "m0", 1, "0", "", "", "w/1", "queued", "m1", 1, "0", "", ""]),
        "", "",
        "A", 0, "B", 0
      ]
      const [first, again] = yield* twice(Scripts.enqueueRecorded, keys, args("d1"))
      assert.deepStrictEqual([first, again], [[1, 1], [0, 0]])
      assert.deepStrictEqual(yield* Effect.promise(() => client.lrange(k.ready, 0, -1)), ["w/0", "w/1"])
      assert.strictEqual(yield* run(Scripts.enqueueRecorded, keys, args("d2")), -1)
      assert.strictEqual(yield* Effect.promise(() => client.get(definition)), "d1")
      // once the workflow ended, an enqueue guarded by its end is refused
      yield* Effect.promise(() => client.set(`${r.kv}wf:w:end`, "{}"))
      const next = [
        k.job, 2, 64, r.job, 0, "unless", `${r.kv}wf:w:end`, "",
        pack(["w/2", "queued", "m2", 2, "0", "", ""]),
        "", "",
        "C", 0
      ]
      assert.strictEqual(yield* run(Scripts.enqueueRecorded, keys, next), -1)
      assert.deepStrictEqual(yield* Effect.promise(() => client.lrange(k.ready, 0, -1)), ["w/0", "w/1"])
      assert.strictEqual(yield* Effect.promise(() => client.exists(`${r.job}w/2`)), 0)
    }))

  it.effect("settle with what follows a workflow job: counted, ended, next step enqueued; run again, the same", () =>
    Effect.gen(function*() {
      const { claimKeys, client, k, r, settleKeys } = yield* settleSetup
      yield* run(Scripts.enqueue, [k.ready, k.delayed, k.signal], [k.job, 0, 64, "g0", "G0", 0, "g1", "G1", 0, "c0", "C0", 0, "x", "X", 0])
      yield* run(Scripts.claim, claimKeys, claimArgs(k, 1, 4, `${k.tag}:r:w:1`))
      const record = (id: string, at: number) => [id, "successful", `ok@${at}`, at, "0", "", "1"]
      const done = `${r.set}wf:g:done:`
      const end = `${r.kv}wf:g:end`
      const chainEnd = `${r.kv}wf:c:end`
      const settle = (n: number, entries: ReadonlyArray<string | number>) => [
        ...[k.job, 2, 2 + vt, 0, 10, 64, vt, "", `${k.tag}:r:w:${n}`, 0],
        ...[r.job, 0, 0],
        pack(entries)
      ]
      // g0: counted (1 of 2, not ended); c0: its chain's next step c1 enqueued; x: its lease
      // lost (wrong attempt), nothing follows
      const args = settle(2, [
        "a", "g0", "1", 1, ...record("g0", 2), "w", "e", done, "0", 2, end, "{}",
        "a", "c0", "1", 1, ...record("c0", 2), "w", "n", chainEnd, 1, "c1", "queued", "m1", 2, "0", "", "new", "C1", 0,
        "a", "x", "2", 1, ...record("x", 2), "w", "e", "", "", 0, `${r.kv}wf:x:end`, "{}"
      ])
      const [first, second] = yield* twice(Scripts.settle, settleKeys, args)
      assert.deepStrictEqual(first.slice(0, 10), [9, 1, 1, 0, 1, 1, 1, 0, 0, 0])
      assert.deepStrictEqual(second.slice(0, 10), first.slice(0, 10), "a re-sent settle gets the same reply")
      assert.deepStrictEqual(yield* Effect.promise(() => client.smembers(done)), ["0"])
      assert.strictEqual(yield* Effect.promise(() => client.exists(end)), 0)
      assert.deepStrictEqual(yield* Effect.promise(() => client.lrange(k.ready, 0, -1)), ["c1"], "the next step, enqueued once")
      assert.deepStrictEqual(yield* Effect.promise(() => client.hmget(`${r.job}c1`, "status", "message")), ["queued", "m1"])
      assert.strictEqual(yield* Effect.promise(() => client.exists(`${r.kv}wf:x:end`)), 0)

      // g1 completes the group: the workflow ends; the chain ended meanwhile: no next step
      yield* Effect.promise(() => client.set(chainEnd, "cancelled"))
      yield* run(Scripts.enqueue, [k.ready, k.delayed, k.signal], [k.job, 0, 64, "c2", "C2", 0])
      yield* run(Scripts.claim, claimKeys, claimArgs(k, 3, 2, `${k.tag}:r:w:3`))
      const later = yield* run(Scripts.settle, settleKeys, settle(4, [
        "a", "g1", "1", 1, ...record("g1", 4), "w", "e", done, "1", 2, end, "{\"status\":\"successful\"}",
        "a", "c2", "1", 1, ...record("c2", 4), "w", "n", chainEnd, 1, "c3", "queued", "m3", 4, "0", "", "new", "C3", 0
      ]))
      assert.deepStrictEqual(later.slice(0, 7), [6, 1, 1, 1, 1, 1, -1])
      assert.strictEqual(yield* Effect.promise(() => client.get(end)), "{\"status\":\"successful\"}")
      assert.strictEqual(yield* Effect.promise(() => client.exists(`${r.job}c3`)), 0, "no next step once the workflow ended")
      // a job whose record is refused (final already) has nothing follow it
      yield* run(Scripts.enqueue, [k.ready, k.delayed, k.signal], [k.job, 0, 64, "g0", "G0", 0])
      yield* run(Scripts.claim, claimKeys, claimArgs(k, 5, 1, `${k.tag}:r:w:5`))
      yield* Effect.promise(() => client.del(done))
      const refused = yield* run(Scripts.settle, settleKeys, settle(6, [
        "a", "g0", "1", 1, "g0", "failed", "late", 6, "0", "", "1", "w", "e", done, "0", 2, end, "{}"
      ]))
      assert.deepStrictEqual(refused.slice(0, 4), [3, 1, 0, 0])
      assert.strictEqual(yield* Effect.promise(() => client.exists(done)), 0)
    }))

  it.effect("settle (records with acks, and a claim): the second run answers like the first and changes nothing", () =>
    Effect.gen(function*() {
      const { claimKeys, client, k, r, settleKeys } = yield* settleSetup
      yield* run(Scripts.enqueue, [k.ready, k.delayed, k.signal], [k.job, 0, 64, "a", "A", 0, "b", "B", 0, "c", "C", 0])
      yield* run(Scripts.claim, claimKeys, claimArgs(k, 1, 2, `${k.tag}:r:test:1`))
      const record = (id: string, status: string, at: number) => [id, status, `${status}@${at}`, at, "1", `result of ${id}`, ""]
      // a plain record of another job; a's ack with its final record; b's ack under a wrong
      // attempt (lease lost: its record is not written); one more message claimed
      const args = [
        ...[k.job, 2, 2 + vt, 1, 10, 64, vt, "", `${k.tag}:r:test:2`, 1, `${k.tag}:r:test:1`],
        ...[r.job, 0, 0],
        pack([
          "r", ...record("side", "processing", 2),
          "a", "a", "1", 1, ...record("a", "successful", 2),
          "a", "b", "2", 1, ...record("b", "successful", 2)
        ])
      ]
      const [first, second] = yield* twice(Scripts.settle, settleKeys, args)
      assert.deepStrictEqual(first.slice(0, 6), [5, 1, 1, 1, 0, 0])
      assert.deepStrictEqual(first.slice(7), ["c", 1, "C", 0])
      // the same flags and deliveries (the "next due time" hint in between may differ, as for ack)
      assert.deepStrictEqual([...second.slice(0, 6), ...second.slice(7)], [...first.slice(0, 6), ...first.slice(7)], "a re-sent settle gets the same reply")
      assert.strictEqual(yield* Effect.promise(() => client.hget(`${k.job}c`, "attempt")), "1", "c claimed once")
      assert.deepStrictEqual(yield* Effect.promise(() => client.hmget(`${r.job}a`, "status", "message")), ["successful", "successful@2"])
      assert.strictEqual(yield* Effect.promise(() => client.exists(`${r.job}b`)), 0, "nothing written for a lost lease")
      assert.strictEqual(yield* Effect.promise(() => client.hget(`${r.job}side`, "status")), "processing")
      assert.strictEqual(yield* Effect.promise(() => client.exists(`${k.job}a`)), 0, "a acknowledged")
      assert.deepStrictEqual((yield* Effect.promise(() => client.zrange(k.leases, 0, -1))).sort(), ["b", "c"])
      assert.deepStrictEqual(yield* Effect.promise(() => client.zrange(r.successful, 0, -1)), ["a"])

      // a different call (another reply key) for a is fenced: lost, and its record not written
      const stale = yield* run(Scripts.settle, settleKeys, [
        ...[k.job, 3, 3 + vt, 0, 10, 64, vt, "", `${k.tag}:r:test:3`, 0],
        ...[r.job, 0, 0],
        pack(["a", "a", "1", 1, ...record("a", "failed", 3)])
      ])
      assert.deepStrictEqual(stale, [2, 0, 0])
      assert.deepStrictEqual(yield* Effect.promise(() => client.hmget(`${r.job}a`, "status", "message")), ["successful", "successful@2"])
    }))
})
