/**
 * The NATS results store's record path: a final record sends its index entry and its state
 * together (one round trip for the two). After each transition the stored state and the
 * indexes are read back, raw from the bucket: fencing on (id, attempt) and first final record
 * wins still hold, and a final state is always found in its index and only there.
 */
import { assert, layer } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { connect } from "@nats-io/transport-node"
import { Effect } from "effect"
import { currentLease } from "../../src/internal/nats/leases.js"
import { decodeState, indexKey, jobStateKey } from "../../src/internal/nats/frame.js"
import { encodeToken } from "../../src/internal/nats/names.js"
import * as Nats from "../../src/layers/Nats.js"
import type { JobRecord } from "../../src/Results.js"
import * as NatsServer from "../utils/natsServer.js"

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (body: Uint8Array) => new TextDecoder().decode(body)
const unique = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`

const rec = (id: string, status: JobRecord["status"], attempt: number | undefined, at: number, result?: string): JobRecord => ({
  id,
  status,
  message: bytes(`${status}@${attempt ?? 0}`),
  at,
  attempt,
  ...(result === undefined ? {} : { result: bytes(result) })
})

/** a store on a fresh prefix, and what is stored in its bucket, read with a client of its own */
const setup = Effect.gen(function*() {
  const nats = yield* NatsServer.Current
  const prefix = unique("lean")
  const { broker, results } = yield* Nats.make({ servers: nats.url, prefix, name: unique("lean") })
  const nc = yield* Effect.acquireRelease(Effect.promise(() => connect({ servers: nats.url })), (nc) => Effect.promise(() => nc.close()))
  const kv = yield* Effect.promise(() => new Kvm(nc).open(`${prefix}_results`))
  /** the job's stored state: status, attempt and message */
  const state = (id: string) =>
    Effect.promise(async () => {
      const entry = await kv.get(jobStateKey(encodeToken(id)))
      if (entry === null || entry.operation !== "PUT") return undefined
      const s = decodeState(entry.value)!
      return { status: s.status, attempt: s.attempt, message: text(s.message), result: s.result && text(s.result) }
    })
  /** the index entries of the job, both indexes */
  const entries = (id: string) =>
    Effect.promise(async () => {
      const keys: Array<string> = []
      for await (const k of await kv.keys(`x.*.*.${encodeToken(id)}`)) keys.push(k)
      return keys.sort()
    })
  /** the job's place in the two indexes, as the store lists them */
  const listed = (id: string) =>
    Effect.map(
      Effect.all([results.list("successful"), results.list("failed")]),
      ([ok, failed]) => ({ successful: ok.includes(id), failed: failed.includes(id) })
    )
  /** how many messages the bucket's stream holds on the job's state key */
  const revisions = (id: string) =>
    Effect.promise(async () => {
      const subject = `$KV.${prefix}_results.${jobStateKey(encodeToken(id))}`
      const info = await (await jetstreamManager(nc)).streams.info(`KV_${prefix}_results`, { subjects_filter: subject })
      return info.state.subjects?.[subject] ?? 0
    })
  return { broker, results, state, entries, listed, revisions }
})

layer(NatsServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("NATS lean record path", (it) => {
  it.scoped("each transition is stored; a final state is indexed once it is recorded", () =>
    Effect.gen(function*() {
      const { entries, listed, results, state } = yield* setup
      const id = unique("job")
      assert.deepStrictEqual(yield* results.record([rec(id, "queued", undefined, 1)]), [true])
      assert.deepStrictEqual(yield* state(id), { status: "queued", attempt: 0, message: "queued@0", result: undefined })
      assert.deepStrictEqual(yield* entries(id), [])

      assert.deepStrictEqual(yield* results.record([rec(id, "processing", 1, 2)]), [true])
      assert.deepStrictEqual(yield* state(id), { status: "processing", attempt: 1, message: "processing@1", result: undefined })
      assert.deepStrictEqual(yield* entries(id), [])

      assert.deepStrictEqual(yield* results.record([rec(id, "successful", 1, 3, "42")]), [true])
      // when the record answers, the state and its index entry are both stored
      assert.deepStrictEqual(yield* state(id), { status: "successful", attempt: 1, message: "successful@1", result: "42" })
      assert.deepStrictEqual(yield* entries(id), [indexKey("successful", 3, encodeToken(id))])
      assert.deepStrictEqual(yield* listed(id), { successful: true, failed: false })
      assert.strictEqual(yield* results.count("successful"), 1)

      // an enqueue is refused; a new run (a retry) starts afresh: no entry left
      assert.deepStrictEqual(yield* results.record([rec(id, "queued", undefined, 4)]), [false])
      assert.deepStrictEqual(yield* results.record([{ ...rec(id, "queued", undefined, 4), newRun: true }]), [true])
      assert.deepStrictEqual((yield* state(id))?.status, "queued")
      assert.deepStrictEqual(yield* entries(id), [])
      assert.deepStrictEqual(yield* listed(id), { successful: false, failed: false })
    }))

  it.scoped("first final record wins: a later one is refused and its index entry taken back", () =>
    Effect.gen(function*() {
      const { entries, listed, results, state } = yield* setup
      const id = unique("job")
      yield* results.record([rec(id, "queued", undefined, 1)])
      yield* results.record([rec(id, "processing", 1, 2)])
      assert.deepStrictEqual(yield* results.record([rec(id, "failed", 1, 3)]), [true])
      // the same attempt, another outcome; then a later attempt
      assert.deepStrictEqual(yield* results.record([rec(id, "successful", 1, 4)]), [false])
      assert.deepStrictEqual(yield* results.record([rec(id, "successful", 2, 5)]), [false])
      assert.deepStrictEqual(yield* state(id), { status: "failed", attempt: 1, message: "failed@1", result: undefined })
      assert.deepStrictEqual(yield* entries(id), [indexKey("failed", 3, encodeToken(id))])
      assert.deepStrictEqual(yield* listed(id), { successful: false, failed: true })
      // a record sent twice (a retried record after a lost reply) keeps its own entry
      assert.deepStrictEqual(yield* results.record([rec(id, "failed", 1, 3)]), [false])
      assert.deepStrictEqual(yield* entries(id), [indexKey("failed", 3, encodeToken(id))])
    }))

  it.scoped("concurrent final records: exactly one is applied, and only its entry stays", () =>
    Effect.gen(function*() {
      const { entries, results, state } = yield* setup
      for (let round = 0; round < 10; round++) {
        const id = unique("race")
        yield* results.record([rec(id, "queued", undefined, 1)])
        yield* results.record([rec(id, "processing", 1, 2)])
        const outcomes = yield* Effect.all([
          results.record([rec(id, "successful", 1, 10 + round)]),
          results.record([rec(id, "failed", 1, 20 + round)]),
          results.record([rec(id, "successful", 1, 30 + round)])
        ], { concurrency: "unbounded" })
        const applied = outcomes.map(([ok]) => ok)
        assert.strictEqual(applied.filter((ok) => ok).length, 1, `round ${round}: ${applied}`)
        const winner = applied.indexOf(true)
        const status = winner === 1 ? "failed" : "successful"
        const at = [10, 20, 30][winner]! + round
        assert.deepStrictEqual((yield* state(id))?.status, status)
        assert.deepStrictEqual(yield* entries(id), [indexKey(status, at, encodeToken(id))])
      }
    }))

  it.scoped("fencing: an older attempt's records never overwrite a newer attempt's state, nor index it", () =>
    Effect.gen(function*() {
      const { entries, listed, results, state } = yield* setup
      const id = unique("job")
      yield* results.record([rec(id, "queued", undefined, 1)])
      assert.deepStrictEqual(yield* results.record([rec(id, "processing", 1, 2)]), [true])
      // the message was redelivered: attempt 2 records, then attempt 1 finishes late
      assert.deepStrictEqual(yield* results.record([rec(id, "processing", 2, 3)]), [true])
      assert.deepStrictEqual(yield* results.record([rec(id, "successful", 1, 4)]), [false])
      assert.deepStrictEqual(yield* state(id), { status: "processing", attempt: 2, message: "processing@2", result: undefined })
      assert.deepStrictEqual(yield* entries(id), [])
      assert.deepStrictEqual(yield* listed(id), { successful: false, failed: false })
      // the newer attempt finishes; the older one's late failure is refused
      assert.deepStrictEqual(yield* results.record([rec(id, "successful", 2, 5)]), [true])
      assert.deepStrictEqual(yield* results.record([rec(id, "failed", 1, 6)]), [false])
      assert.deepStrictEqual(yield* state(id), { status: "successful", attempt: 2, message: "successful@2", result: undefined })
      assert.deepStrictEqual(yield* entries(id), [indexKey("successful", 5, encodeToken(id))])
    }))

  it.scoped("a job recorded final by a delivery's worker is acked, and a redelivery's processing record is refused", () =>
    Effect.gen(function*() {
      const { broker, entries, results, state } = yield* setup
      const queue = unique("q")
      const id = unique("job")
      yield* results.record([rec(id, "queued", undefined, 1)])
      yield* broker.enqueue(queue, [{ id, body: bytes("job") }])
      const consumer = yield* broker.consumer(queue, { prefetch: 1 })
      const delivery = yield* consumer.take
      assert.strictEqual(delivery.attempt, 1)
      // on the taking fiber, records of the job carry the delivery's attempt
      assert.deepStrictEqual(yield* results.record([rec(id, "processing", undefined, 2)]), [true])
      assert.deepStrictEqual(yield* results.record([rec(id, "successful", undefined, 3)]), [true])
      yield* delivery.ack
      // a replay of the acked message (what a killed server may do) with delivery count 1 finds
      // the job final: its processing record is refused, so the handler does not run again
      const replayed = results.record([rec(id, "processing", 1, 4)]).pipe(Effect.locally(currentLease, undefined))
      assert.deepStrictEqual(yield* replayed, [false])
      assert.deepStrictEqual(yield* state(id), { status: "successful", attempt: 1, message: "successful@0", result: undefined })
      assert.deepStrictEqual(yield* entries(id), [indexKey("successful", 3, encodeToken(id))])
    }))

  // nats-server 2.9's file store finds the first message of a key from a hint it does not move
  // when that message is removed: with history 1, a job's final record looked through every
  // block written since its `queued` record (the whole backlog, once per job; see
  // docs/performance.md, "NATS backlog"). With history 2 the `queued` record is still there
  // when the final one replaces it, and is found at once.
  it.scoped("a job's key keeps its previous revision: the final record replaces the queued one, not the processing one", () =>
    Effect.gen(function*() {
      const { results, revisions, state } = yield* setup
      const id = unique("job")
      yield* results.record([rec(id, "queued", undefined, 1)])
      assert.strictEqual(yield* revisions(id), 1)
      yield* results.record([rec(id, "processing", 1, 2)])
      assert.strictEqual(yield* revisions(id), 2)
      yield* results.record([rec(id, "successful", 1, 3, "42")])
      assert.strictEqual(yield* revisions(id), 2)
      assert.deepStrictEqual(yield* state(id), { status: "successful", attempt: 1, message: "successful@1", result: "42" })
      // an index entry is stored once: the record sent again leaves one message, one count
      assert.deepStrictEqual(yield* results.record([rec(id, "successful", 1, 3, "42")]), [false])
      assert.strictEqual(yield* results.count("successful"), 1)
    }))

  it.scoped("a bucket made with history 1 is brought to history 2", () =>
    Effect.gen(function*() {
      const nats = yield* NatsServer.Current
      const prefix = unique("old")
      const nc = yield* Effect.acquireRelease(Effect.promise(() => connect({ servers: nats.url })), (nc) => Effect.promise(() => nc.close()))
      const jsm = yield* Effect.promise(() => jetstreamManager(nc))
      yield* Effect.promise(() => new Kvm(nc).create(`${prefix}_results`, { history: 1 }))
      yield* Nats.make({ servers: nats.url, prefix })
      const info = yield* Effect.promise(() => jsm.streams.info(`KV_${prefix}_results`))
      assert.strictEqual(info.config.max_msgs_per_subject, 2)
    }))
})
