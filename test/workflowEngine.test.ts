import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { Broker } from "../src/Broker.js"
import { fromBase64, toBase64, utf8 } from "../src/internal/codec.js"
import * as Hooks from "../src/internal/server/hooks.js"
import type { PendingMessage } from "../src/internal/server/producer.js"
import type { Draft } from "../src/internal/workflow/definition.js"
import { assignIds } from "../src/internal/workflow/definition.js"
import { makeMessage } from "../src/internal/messages.js"
import * as Engine from "../src/internal/workflow/engine.js"
import * as Job from "../src/Job.js"
import * as Memory from "../src/layers/Memory.js"
import { Results } from "../src/Results.js"
import * as Task from "../src/Task.js"

const Sum = Task.make("sum", { payload: Schema.Struct({ add: Schema.Number }), result: Schema.Struct({ total: Schema.Number }) })

/**
 * an engine over Memory whose results reads are counted and whose enqueues are kept; an
 * enqueue's guard is applied as the producer does when the store has no one-step guard
 */
const setup = Effect.gen(function*() {
  const results = yield* Results
  const broker = yield* Broker
  const reads = { get: 0, getResults: 0 }
  const enqueued: Array<PendingMessage> = []
  const counted: Results["Type"] = {
    ...results,
    get: (name) => Effect.zipRight(Effect.sync(() => reads.get++), results.get(name)),
    getResults: (ids) => Effect.zipRight(Effect.sync(() => reads.getResults++), results.getResults(ids))
  }
  const engine = Engine.make({
    results: counted,
    broker,
    hooks: Hooks.none,
    encodeQueued: (items) => ({
      records: items.map((item) => ({ id: item.message.meta.id, status: "queued" as const, message: new Uint8Array(), at: 0 })),
      messages: items.map((item) => ({ id: item.message.meta.id, body: new Uint8Array(), runAt: item.runAt }))
    }),
    enqueueMessages: (items, _newRun, guard) =>
      Effect.map(
        guard === undefined
          ? Effect.succeed(true)
          : guard._tag === "create"
          ? results.create(guard.key, guard.value)
          : Effect.map(results.get(guard.key), Option.isNone),
        (go) => {
          if (go) enqueued.push(...items)
          return go
        }
      )
  })
  return { engine, reads, enqueued }
})

describe("workflow engine", () => {
  it.effect("a chain step passes the result it recorded on without reading it back", () =>
    Effect.gen(function*() {
      const { engine, enqueued, reads } = yield* setup
      const job = yield* Job.make(Sum, { add: 1 })
      const root = assignIds("c1", { _tag: "chain", children: [{ _tag: "job", spec: job.spec }, { _tag: "job", spec: job.spec }] })
      yield* engine.enqueue({ id: "c1", root, createdAt: 0 })
      const first = enqueued.shift()!.message
      const result = utf8(JSON.stringify({ total: 1 }))
      yield* engine.onFinal(first, "successful", false, result)
      assert.strictEqual(reads.getResults, 0)
      assert.strictEqual(enqueued.length, 1)
      assert.strictEqual(enqueued[0]!.message.meta.id, "c1/1")
      assert.deepStrictEqual(fromBase64(enqueued[0]!.message.meta.prevJobResult!), result)
      // without it (a recovery), the result is read from the store
      yield* engine.onFinal(first, "successful", true)
      assert.strictEqual(reads.getResults, 1)
      assert.strictEqual(enqueued[1]!.message.meta.prevJobResult, toBase64(new Uint8Array()))
    }).pipe(Effect.provide(Memory.layer())))

  it.effect("a group member that is not the last reads no workflow end; the last one ends it once", () =>
    Effect.gen(function*() {
      const { engine, enqueued, reads } = yield* setup
      const job = yield* Job.make(Sum, { add: 1 })
      const root = assignIds("g1", { _tag: "group", children: [0, 1, 2].map(() => ({ _tag: "job" as const, spec: job.spec })) })
      yield* engine.enqueue({ id: "g1", root, createdAt: 0 })
      const members = enqueued.map((p) => p.message)
      yield* engine.onFinal(members[0]!, "successful", false)
      yield* engine.onFinal(members[1]!, "successful", false)
      yield* engine.onFinal(members[1]!, "successful", true) // redone: counted once
      assert.strictEqual(reads.get, 0)
      assert.isTrue(Option.isNone(yield* engine.getEnd("g1")))
      yield* engine.onFinal(members[2]!, "successful", false)
      assert.strictEqual(Option.getOrThrow(yield* engine.getEnd("g1")).status, "successful")
    }).pipe(Effect.provide(Memory.layer())))

  it.effect("a chain of a cancelled workflow starts no next step", () =>
    Effect.gen(function*() {
      const { engine, enqueued } = yield* setup
      const job = yield* Job.make(Sum, { add: 1 })
      const root = assignIds("c2", { _tag: "chain", children: [{ _tag: "job", spec: job.spec }, { _tag: "job", spec: job.spec }] })
      yield* engine.enqueue({ id: "c2", root, createdAt: 0 })
      const first = enqueued.shift()!.message
      assert.isTrue(yield* engine.cancel("c2"))
      yield* engine.onFinal(first, "successful", false, utf8("{}"))
      assert.strictEqual(enqueued.length, 0)
    }).pipe(Effect.provide(Memory.layer())))

  it.effect("stepOf: the step that goes with a success's settle, when nothing must be read first", () =>
    Effect.gen(function*() {
      const { engine } = yield* setup
      const a = yield* Job.make(Sum, { add: 1 })
      const elsewhere = yield* Job.make(Sum, { add: 1 }, { queue: "elsewhere" })
      const leaf = { _tag: "job" as const, spec: a.spec }
      const result = utf8(JSON.stringify({ total: 1 }))
      const messageOf = (id: string, node: string) =>
        makeMessage(a.spec, `${id}/${node}`, 0, { workflow: { id, node } })
      const define = (id: string, draft: Draft) => engine.enqueue({ id, root: assignIds(id, draft), createdAt: 0 })

      // a chain's step: the next step, its input this job's result, guarded by the end
      yield* define("s1", { _tag: "chain", children: [leaf, leaf, leaf] })
      const next = engine.stepOf(messageOf("s1", "0"), result, 5)
      assert.strictEqual(next?._tag, "next")
      if (next?._tag === "next") {
        assert.strictEqual(next.guard, "wf:s1:end")
        assert.deepStrictEqual(next.items.map((item) => item.message.meta.id), ["s1/1"])
        assert.deepStrictEqual(fromBase64(next.items[0]!.message.meta.prevJobResult!), result)
        assert.deepStrictEqual(next.records.map((r) => r.id), ["s1/1"])
      }
      // its last step: the end
      const last = engine.stepOf(messageOf("s1", "2"), result, 5)
      assert.deepStrictEqual(last, { _tag: "end", group: undefined, key: "wf:s1:end", value: utf8(JSON.stringify({ status: "successful", at: 5 })) })

      // a group's member: counted, then the end; a chain's last step in a group: the chain counted
      yield* define("s2", { _tag: "group", children: [leaf, { _tag: "chain", children: [leaf, leaf] }, leaf] })
      const member = engine.stepOf(messageOf("s2", "2"), result, 5)
      assert.deepStrictEqual(member?._tag === "end" && member.group, { key: "wf:s2:done:", member: "2", size: 3 })
      const chained = engine.stepOf(messageOf("s2", "1.1"), result, 5)
      assert.deepStrictEqual(chained?._tag === "end" && chained.group, { key: "wf:s2:done:", member: "1", size: 3 })

      // step by step: a next step fed by a group (its outputs are read), two groups to count, a
      // next step in another queue, an unknown workflow, no result
      yield* define("s3", { _tag: "chain", children: [{ _tag: "group", children: [leaf, leaf] }, leaf] })
      assert.isUndefined(engine.stepOf(messageOf("s3", "0.0"), result, 5))
      yield* define("s4", { _tag: "group", children: [{ _tag: "group", children: [leaf, leaf] }, leaf] })
      assert.isUndefined(engine.stepOf(messageOf("s4", "0.1"), result, 5))
      yield* define("s5", { _tag: "chain", children: [leaf, { _tag: "job", spec: elsewhere.spec }] })
      assert.isUndefined(engine.stepOf(messageOf("s5", "0"), result, 5))
      assert.isUndefined(engine.stepOf(messageOf("nope", "0"), result, 5))
      assert.isUndefined(engine.stepOf(messageOf("s1", "0"), undefined, 5))
    }).pipe(Effect.provide(Memory.layer())))
})
