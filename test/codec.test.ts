/**
 * The hand check of a message's common shape (`isPlainMessage`, on every job's path) accepts
 * nothing the `JobMessage` schema rejects, and what it accepts decodes to the same message;
 * messages as the library makes them take it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { JobMessage } from "../src/Job.js"
import { decodeMessage, isPlainMessage, utf8 } from "../src/internal/codec.js"

const base = {
  meta: {
    id: "job-1",
    status: "queued",
    queue: "tasqueue:tasks",
    onSuccessIds: ["job-1/ok0"],
    onErrorIds: [],
    maxRetry: 3,
    retried: 0,
    enqueuedAt: 1_700_000_000_000,
    processedAt: 1_700_000_000_001,
    workflow: { id: "wf", node: "a" },
    progress: { done: 1 },
    traceparent: "00-abc-def-01",
    prevJobResults: ["x"]
  },
  job: { task: "noop", payload: { i: 1 }, opts: { queue: "tasqueue:tasks", maxRetries: 3, timeout: 1000, delay: 0 } }
}

const odd: ReadonlyArray<unknown> = [undefined, null, "", "x", 0, -1, 1.5, 2, true, [], ["", 1], {}, { id: "a" }, { id: "a", node: "b" }]

/** the base message with one field replaced (or removed: undefined), at every field */
const variants = (): Array<unknown> => {
  const out: Array<unknown> = [base]
  for (const part of ["meta", "job"] as const) {
    const fields = Object.keys(base[part]).concat(["extra", "lastError", "onSuccess", "schedule", "finishedAt"])
    for (const key of fields) {
      for (const value of odd) {
        const copy = structuredClone(base) as any
        if (value === undefined) delete copy[part][key]
        else copy[part][key] = value
        out.push(copy)
      }
    }
  }
  for (const key of Object.keys(base.job.opts).concat(["eta", "id", "other"])) {
    for (const value of odd) {
      const copy = structuredClone(base) as any
      if (value === undefined) delete copy.job.opts[key]
      else copy.job.opts[key] = value
      out.push(copy)
    }
  }
  out.push(null, [], "x", { meta: base.meta }, { job: base.job }, { ...base, extra: 1 })
  return out
}

const schema = Schema.decodeUnknownEither(JobMessage, { onExcessProperty: "ignore" })

describe("isPlainMessage", () => {
  it("accepts only what the schema accepts, as the schema decodes it", () => {
    let accepted = 0
    for (const variant of variants()) {
      if (!isPlainMessage(variant)) continue
      accepted++
      const decoded = schema(variant)
      assert.isTrue(Either.isRight(decoded), JSON.stringify(variant))
      assert.deepStrictEqual(Either.getOrThrow(decoded), variant as any)
    }
    assert.isAbove(accepted, 50, "the check takes the common shapes")
  })

  it("rejects what the schema rejects, and decodeMessage still says why", () => {
    const bad = structuredClone(base) as any
    bad.meta.retried = -1
    assert.isFalse(isPlainMessage(bad))
    const decoded = decodeMessage(utf8(JSON.stringify(bad)))
    assert.isTrue(Either.isLeft(decoded))
  })

  it("a message with a lastError goes to the schema, and decodes the same", () => {
    const withError = structuredClone(base) as any
    withError.meta.lastError = { _tag: "Boom", message: "boom", extra: 1 }
    assert.isFalse(isPlainMessage(withError))
    assert.deepStrictEqual(Either.getOrThrow(decodeMessage(utf8(JSON.stringify(withError)))), withError)
  })
})
