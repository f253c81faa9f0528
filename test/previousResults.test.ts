import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { toBase64, utf8 } from "../src/internal/codec.js"
import { makeMessage } from "../src/internal/messages.js"
import * as JobContext from "../src/internal/server/jobContext.js"
import * as Job from "../src/Job.js"
import * as JobCtx from "../src/JobCtx.js"
import * as Memory from "../src/layers/Memory.js"
import type { Results } from "../src/Results.js"
import * as Server from "../src/Server.js"
import * as Task from "../src/Task.js"
import * as Workflow from "../src/Workflow.js"

const Sum = Task.make("sum", { payload: Schema.Struct({ add: Schema.Number }), result: Schema.Struct({ total: Schema.Number }) })
const Word = Task.make("word", { payload: Schema.String, result: Schema.Struct({ text: Schema.String }) })
const Bytes = Task.make("bytes", { payload: Schema.String })
const Report = Task.make("report", { payload: Schema.Struct({}), result: Schema.String })

const json = (value: unknown) => toBase64(utf8(JSON.stringify(value)))

/** runs `effect` as the handler of a job whose meta carries these previous results */
const inJob = <A, E>(
  effect: Effect.Effect<A, E, JobCtx.JobCtx>,
  input: { readonly prevJobResult?: string; readonly prevJobResults?: ReadonlyArray<string> }
) =>
  Effect.gen(function*() {
    const job = yield* Job.make(Report, {})
    const ctx = JobContext.make(makeMessage(job.spec, "j1", 0, input), 1, {} as Results["Type"])
    return yield* Effect.either(Effect.provideService(effect, JobCtx.JobCtx, ctx))
  })

describe("JobCtx.previousResult / previousResults", () => {
  it.effect("decode the step before with the task's result schema", () =>
    Effect.gen(function*() {
      const one = yield* inJob(JobCtx.previousResult(Sum), { prevJobResult: json({ total: 3 }) })
      assert.deepStrictEqual(one._tag === "Right" ? one.right : undefined, { total: 3 })
      const group = { prevJobResults: [json({ total: 1 }), json({ text: "a" }), json({ total: 2 })] }
      const tuple = yield* inJob(JobCtx.previousResults([Sum, Word, Sum]), group)
      assert.isTrue(tuple._tag === "Right")
      if (tuple._tag === "Right") {
        const [a, b, c] = tuple.right
        assert.deepStrictEqual([a.total, b.text, c.total], [1, "a", 2])
      }
      const same = yield* inJob(JobCtx.previousResults(Sum), { prevJobResults: [json({ total: 1 }), json({ total: 2 })] })
      assert.deepStrictEqual(same._tag === "Right" ? same.right : undefined, [{ total: 1 }, { total: 2 }])
      // a task without a result schema reads the bytes as saved
      const raw = yield* inJob(JobCtx.previousResult(Bytes), { prevJobResult: toBase64(utf8("hi")) })
      assert.deepStrictEqual(raw._tag === "Right" ? new TextDecoder().decode(raw.right) : undefined, "hi")
    }))

  it.effect("fail with PreviousResultMissing or PreviousResultInvalid, naming the job", () =>
    Effect.gen(function*() {
      const cases: Array<[Effect.Effect<unknown, JobCtx.PreviousResultMissing | JobCtx.PreviousResultInvalid, JobCtx.JobCtx>, Parameters<typeof inJob>[1], string, string]> = [
        [JobCtx.previousResult(Sum), {}, "PreviousResultMissing", "neither a step after another"],
        [JobCtx.previousResult(Sum), { prevJobResults: [json({ total: 1 })] }, "PreviousResultMissing", "previousResults"],
        [JobCtx.previousResults(Sum), { prevJobResult: json({ total: 1 }) }, "PreviousResultMissing", "previousResult"],
        // the step before saved nothing (a workflow passes an empty result on)
        [JobCtx.previousResult(Sum), { prevJobResult: "" }, "PreviousResultMissing", "saved no result"],
        [JobCtx.previousResult(Word), { prevJobResult: json({ total: 1 }) }, "PreviousResultInvalid", "task \"word\""],
        [JobCtx.previousResult(Sum), { prevJobResult: toBase64(utf8("not json")) }, "PreviousResultInvalid", "task \"sum\""],
        [JobCtx.previousResults([Sum, Sum]), { prevJobResults: [json({ total: 1 })] }, "PreviousResultInvalid", "1 results, read as 2"],
        [JobCtx.previousResults([Sum, Word]), { prevJobResults: [json({ total: 1 }), json({ total: 2 })] }, "PreviousResultInvalid", "result 1"]
      ]
      for (const [read, input, tag, text] of cases) {
        const result = yield* inJob(read, input)
        assert.isTrue(result._tag === "Left", `${tag} ${text}`)
        if (result._tag === "Left") {
          assert.strictEqual(result.left._tag, tag)
          assert.strictEqual(result.left.id, "j1")
          assert.include(result.left.message, text)
        }
      }
    }))

  it.scoped("a handler's typed read along a chain of a group, on Memory", () =>
    Effect.gen(function*() {
      const live = Layer.mergeAll(
        Server.register(Sum, ({ add }) => Effect.succeed({ total: add })),
        Server.register(Word, (text) => Effect.succeed({ text })),
        Server.register(Report, () =>
          Effect.gen(function*() {
            const [a, b] = yield* JobCtx.previousResults([Sum, Word])
            return `${a.total}:${b.text}`
          }))
      ).pipe(Layer.provideMerge(Server.layer), Layer.provideMerge(Memory.layer()))
      const out = yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        yield* Workflow.enqueue(Workflow.chain([
          Workflow.group([yield* Job.make(Sum, { add: 4 }), yield* Job.make(Word, "x")]),
          yield* Job.make(Report, {})
        ], { id: "w" }))
        // the worker needs no clock: let it run until the last step has its result
        for (let i = 0; i < 1000; i++) {
          const status = yield* Effect.map(Server.getJob("w/1"), (m) => m.meta.status).pipe(Effect.orElseSucceed(() => "missing"))
          if (status === "successful") break
          yield* Effect.yieldNow()
        }
        return yield* Server.getResult(Report, "w/1")
      }).pipe(Effect.provide(live))
      assert.strictEqual(out, "4:x")
    }))
})
