/**
 * The Results conformance suite: one set of tests that every Results implementation passes.
 * Call `run` inside a vitest test file with a layer of your store.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect, Option } from "effect"
import type { Status } from "../Job.js"
import type { JobRecord } from "../Results.js"
import { Results } from "../Results.js"
import { type LayerIt, tester } from "./internal/tester.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<R = never> {
  /** the store under test; each test builds it afresh and uses ids of its own */
  readonly layer: Layer.Layer<Results, unknown, R>
  /** "test" (the default) runs under TestClock; "live" in real time */
  readonly clock?: "test" | "live" | undefined
  /** per-test timeout in milliseconds for vitest */
  readonly timeout?: number | undefined
  /**
   * false for a store that does not fence records by attempt yet (see `Results`): the test of
   * that rule is skipped
   */
  readonly fencesAttempts?: boolean | undefined
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const bytes = (text: string) => encoder.encode(text)
const text = (body: Uint8Array) => decoder.decode(body)
const texts = (list: ReadonlyArray<Option.Option<Uint8Array>>) => list.map(Option.map(text)).map(Option.getOrNull)

/**
 * Defines the suite's tests in a `describe` block named `name`.
 *
 * Given the `it` of an `@effect/vitest` `layer(...)` block, the tests run on it: `options.layer`
 * may then require what that layer provides (a server process shared by the file, say). Build
 * that layer with `excludeTestServices: true`: each test still gets its own `TestClock`.
 *
 * @example
 * ```ts
 * layer(MyServer.layer, { excludeTestServices: true })((it) => {
 *   ResultsSuite.run("MyResults", {
 *     layer: Layer.unwrapEffect(Effect.map(MyServer, (server) => MyBackend.layer(server.url))),
 *     ...
 *   }, it)
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: {
  (name: string, options: Options): void
  <R>(name: string, options: Options<R>, it: LayerIt<R>): void
} = <R>(name: string, options: Options<R>, it?: LayerIt<R>): void => {
  const test = tester(options.clock === "live", it)

  const scenario = <A, E>(title: string, body: (results: Results["Type"], id: (label: string) => string) => Effect.Effect<A, E>) =>
    test(title, () => {
      const prefix = crypto.randomUUID().slice(0, 8)
      return Effect.flatMap(Results, (results) => body(results, (label) => `${prefix}-${label}`)).pipe(
        Effect.provide(options.layer)
      )
    }, options.timeout)

  const rec = (id: string, status: Status, at: number, result?: string, attempt?: number): JobRecord => ({
    id,
    status,
    message: bytes(attempt === undefined ? `${id}:${status}` : `${id}:${status}#${attempt}`),
    result: result === undefined ? undefined : bytes(result),
    at,
    attempt
  })
  /** a new run's `queued` record (a retry, a dead letter's requeue) */
  const rerun = (id: string, at: number): JobRecord => ({ ...rec(id, "queued", at), newRun: true })
  /** a worker's record: it carries its delivery's attempt */
  const byAttempt = (attempt: number, id: string, status: Status, at: number, result?: string) =>
    rec(id, status, at, result, attempt)

  /** the members of `list` that belong to this test, in order */
  const mine = (list: ReadonlyArray<string>, ids: ReadonlyArray<string>) => list.filter((x) => ids.includes(x))

  describe(name, () => {
    scenario("counts the indexes without listing them", (results, id) =>
      Effect.gen(function*() {
        const [ok, failed] = [yield* results.count("successful"), yield* results.count("failed")]
        const message = new TextEncoder().encode("{}")
        yield* results.record([
          { id: id("c1"), status: "successful", message, at: 1 },
          { id: id("c2"), status: "successful", message, at: 2 },
          { id: id("c3"), status: "failed", message, at: 3 }
        ])
        assert.deepStrictEqual([yield* results.count("successful"), yield* results.count("failed")], [ok + 2, failed + 1])
        yield* results.deleteJob(id("c2"))
        assert.strictEqual(yield* results.count("successful"), ok + 1)
      }))

    scenario("records a job's state and reads it back", (results, id) =>
      Effect.gen(function*() {
        const a = id("a")
        assert.isTrue(Option.isNone(yield* results.getJob(a)))
        assert.deepStrictEqual(yield* results.record([rec(a, "queued", 1)]), [true])
        assert.strictEqual(Option.map(yield* results.getJob(a), text).pipe(Option.getOrNull), `${a}:queued`)
        assert.deepStrictEqual(yield* results.record([rec(a, "processing", 2)]), [true])
        assert.deepStrictEqual(texts(yield* results.getJobs([a, id("none"), a])), [
          `${a}:processing`,
          null,
          `${a}:processing`
        ])
      }))

    scenario("indexes successful and failed jobs by time", (results, id) =>
      Effect.gen(function*() {
        const [s1, s2, s3, f1] = [id("s1"), id("s2"), id("s3"), id("f1")]
        yield* results.record([rec(s2, "successful", 2000), rec(f1, "failed", 1500)])
        yield* results.record([rec(s1, "successful", 1000)])
        yield* results.record([rec(s3, "successful", 3000)])
        const ids = [s1, s2, s3, f1]
        assert.deepStrictEqual(mine(yield* results.list("successful"), ids), [s1, s2, s3])
        assert.deepStrictEqual(mine(yield* results.list("failed"), ids), [f1])
        const all = yield* results.list("successful")
        const page = yield* results.list("successful", { offset: all.indexOf(s2), limit: 2 })
        assert.deepStrictEqual(page, [s2, s3])
      }))

    scenario("the first final record wins", (results, id) =>
      Effect.gen(function*() {
        const a = id("a")
        yield* results.record([rec(a, "processing", 1)])
        assert.deepStrictEqual(yield* results.record([rec(a, "successful", 2, "ok")]), [true])
        assert.deepStrictEqual(
          yield* results.record([rec(a, "failed", 3), rec(a, "processing", 4), rec(a, "retrying", 5)]),
          [false, false, false]
        )
        assert.strictEqual(Option.map(yield* results.getJob(a), text).pipe(Option.getOrNull), `${a}:successful`)
        assert.deepStrictEqual(mine(yield* results.list("failed"), [a]), [])
        assert.deepStrictEqual(mine(yield* results.list("successful"), [a]), [a])
        assert.strictEqual(Option.map(yield* results.getResult(a), text).pipe(Option.getOrNull), "ok")
      }))

    scenario("a cancelled job refuses later records too", (results, id) =>
      Effect.gen(function*() {
        const a = id("a")
        yield* results.record([rec(a, "queued", 1)])
        assert.deepStrictEqual(yield* results.record([rec(a, "cancelled", 2)]), [true])
        assert.deepStrictEqual(yield* results.record([rec(a, "processing", 3)]), [false])
      }))

    scenario("a new run's queued record starts a new run of a finished job", (results, id) =>
      Effect.gen(function*() {
        const a = id("a")
        yield* results.record([rec(a, "failed", 1, "partial")])
        assert.deepStrictEqual(mine(yield* results.list("failed"), [a]), [a])
        assert.deepStrictEqual(yield* results.record([rerun(a, 2)]), [true])
        assert.strictEqual(Option.map(yield* results.getJob(a), text).pipe(Option.getOrNull), `${a}:queued`)
        assert.deepStrictEqual(mine(yield* results.list("failed"), [a]), [])
        assert.isTrue(Option.isNone(yield* results.getResult(a)))
        assert.deepStrictEqual(yield* results.record([rec(a, "processing", 3), rec(a, "successful", 4)]), [true, true])
        assert.deepStrictEqual(mine(yield* results.list("successful"), [a]), [a])
        // a new run's record sent twice: the second is refused and the run stands
        const b = id("b")
        yield* results.record([rec(b, "successful", 1)])
        assert.deepStrictEqual(yield* results.record([rerun(b, 2), rerun(b, 3)]), [true, false])
        assert.strictEqual(Option.map(yield* results.getJob(b), text).pipe(Option.getOrNull), `${b}:queued`)
      }))

    scenario("an enqueue's queued record is refused whenever the job has a state", (results, id) =>
      Effect.gen(function*() {
        const [a, b, c] = [id("a"), id("b"), id("c")]
        const job = (x: string) => Effect.map(results.getJob(x), (m) => Option.getOrNull(Option.map(m, text)))
        // a new job: applied; the same enqueue sent again: refused
        assert.deepStrictEqual(yield* results.record([rec(a, "queued", 1)]), [true])
        assert.deepStrictEqual(yield* results.record([rec(a, "queued", 2)]), [false])
        // over a finished job (a producer retrying after its reply was lost): refused, the
        // outcome, its result and its index entry stay
        yield* results.record([rec(b, "queued", 1), rec(b, "successful", 2, "done")])
        assert.deepStrictEqual(yield* results.record([rec(b, "queued", 3)]), [false])
        assert.strictEqual(yield* job(b), `${b}:successful`)
        assert.strictEqual(Option.map(yield* results.getResult(b), text).pipe(Option.getOrNull), "done")
        assert.deepStrictEqual(mine(yield* results.list("successful"), [b]), [b])
        // over a failed or cancelled one as well
        yield* results.record([rec(c, "cancelled", 1)])
        assert.deepStrictEqual(yield* results.record([rec(c, "queued", 2)]), [false])
        assert.strictEqual(yield* job(c), `${c}:cancelled`)
        // once the job is forgotten, the id is a new job
        yield* results.deleteJob(b)
        assert.deepStrictEqual(yield* results.record([rec(b, "queued", 4)]), [true])
        assert.strictEqual(yield* job(b), `${b}:queued`)
      }))

    if (options.fencesAttempts !== false) {
      scenario("records of an attempt older than one that recorded are refused", (results, id) =>
        Effect.gen(function*() {
          const [a, b, c] = [id("a"), id("b"), id("c")]
          const job = (x: string) => Effect.map(results.getJob(x), (m) => Option.getOrNull(Option.map(m, text)))
          yield* results.record([rec(a, "queued", 1)])
          assert.deepStrictEqual(yield* results.record([byAttempt(1, a, "processing", 2)]), [true])
          assert.deepStrictEqual(yield* results.record([byAttempt(2, a, "processing", 3)]), [true])
          // attempt 1's lease ran out: its outcome is refused, whatever it is
          assert.deepStrictEqual(
            yield* results.record([byAttempt(1, a, "successful", 4, "stale"), byAttempt(1, a, "retrying", 5), byAttempt(1, a, "queued", 6)]),
            [false, false, false]
          )
          assert.strictEqual(yield* job(a), `${a}:processing#2`)
          assert.isTrue(Option.isNone(yield* results.getResult(a)))
          assert.deepStrictEqual(mine(yield* results.list("successful"), [a]), [])
          assert.deepStrictEqual(yield* results.record([byAttempt(2, a, "successful", 7, "fresh")]), [true])
          assert.strictEqual(Option.map(yield* results.getResult(a), text).pipe(Option.getOrNull), "fresh")
          // in one call too
          assert.deepStrictEqual(
            yield* results.record([byAttempt(3, b, "processing", 1), byAttempt(2, b, "failed", 2), byAttempt(3, b, "retrying", 3)]),
            [true, false, true]
          )
          assert.strictEqual(yield* job(b), `${b}:retrying#3`)
          // a worker's queued record (a release) does not start a new run of a finished job ...
          assert.deepStrictEqual(yield* results.record([byAttempt(5, c, "processing", 1), byAttempt(5, c, "failed", 2)]), [true, true])
          assert.deepStrictEqual(yield* results.record([byAttempt(6, c, "queued", 3)]), [false])
          // ... nor does an enqueue; a new run does, and its attempts count afresh
          assert.deepStrictEqual(yield* results.record([rec(c, "queued", 4)]), [false])
          assert.deepStrictEqual(yield* results.record([rerun(c, 4)]), [true])
          assert.deepStrictEqual(yield* results.record([byAttempt(1, c, "processing", 5), byAttempt(1, c, "successful", 6)]), [true, true])
          assert.strictEqual(yield* job(c), `${c}:successful#1`)
        }))

      scenario("an enqueue's record arriving late over a running job is refused and keeps the fence", (results, id) =>
        Effect.gen(function*() {
          const [a, b] = [id("a"), id("b")]
          const job = (x: string) => Effect.map(results.getJob(x), (m) => Option.getOrNull(Option.map(m, text)))
          yield* results.record([rec(a, "queued", 1)])
          assert.deepStrictEqual(yield* results.record([byAttempt(1, a, "processing", 2)]), [true])
          assert.deepStrictEqual(yield* results.record([byAttempt(2, a, "processing", 3)]), [true])
          // the producer's retried (or delayed) `queued` record: not a new run, the job is running
          assert.deepStrictEqual(yield* results.record([rec(a, "queued", 4)]), [false])
          assert.strictEqual(yield* job(a), `${a}:processing#2`)
          // a new run's record neither (a retry sent while the job runs)
          assert.deepStrictEqual(yield* results.record([rerun(a, 4)]), [false])
          assert.strictEqual(yield* job(a), `${a}:processing#2`)
          // the fence still stands: attempt 1 (whose lease ran out) cannot record
          assert.deepStrictEqual(yield* results.record([byAttempt(1, a, "successful", 5, "stale")]), [false])
          assert.isTrue(Option.isNone(yield* results.getResult(a)))
          assert.deepStrictEqual(yield* results.record([byAttempt(2, a, "successful", 6, "fresh")]), [true])
          assert.strictEqual(Option.map(yield* results.getResult(a), text).pipe(Option.getOrNull), "fresh")
          // over a retrying job as well, and over a job merely queued (an enqueue sent twice)
          yield* results.record([rec(b, "queued", 1)])
          assert.deepStrictEqual(yield* results.record([rec(b, "queued", 2)]), [false])
          assert.deepStrictEqual(yield* results.record([byAttempt(3, b, "processing", 3), byAttempt(3, b, "retrying", 4)]), [true, true])
          assert.deepStrictEqual(yield* results.record([rec(b, "queued", 5), rerun(b, 5)]), [false, false])
          assert.strictEqual(yield* job(b), `${b}:retrying#3`)
          assert.deepStrictEqual(yield* results.record([byAttempt(2, b, "processing", 6)]), [false])
        }))

      scenario("a save of an attempt older than one that recorded is refused", (results, id) =>
        Effect.gen(function*() {
          const [a, b] = [id("a"), id("b")]
          const result = (x: string) => Effect.map(results.getResult(x), (r) => Option.getOrNull(Option.map(r, text)))
          yield* results.record([rec(a, "queued", 1), byAttempt(1, a, "processing", 2)])
          assert.isTrue(yield* results.setResult(a, bytes("first"), 1))
          assert.strictEqual(yield* result(a), "first")
          assert.deepStrictEqual(yield* results.record([byAttempt(2, a, "processing", 3)]), [true])
          // attempt 1's lease ran out and attempt 2 runs: attempt 1 saves nothing
          assert.isFalse(yield* results.setResult(a, bytes("stale"), 1))
          assert.strictEqual(yield* result(a), "first")
          assert.isTrue(yield* results.setResult(a, bytes("second"), 2))
          assert.strictEqual(yield* result(a), "second")
          assert.deepStrictEqual(yield* results.record([byAttempt(2, a, "successful", 4)]), [true])
          assert.isFalse(yield* results.setResult(a, bytes("late"), 1))
          assert.strictEqual(yield* result(a), "second")
          // a save that is not a worker's is not fenced
          assert.isTrue(yield* results.setResult(b, bytes("any")))
          assert.strictEqual(yield* result(b), "any")
        }))
    }

    scenario("saves results with a record or on their own", (results, id) =>
      Effect.gen(function*() {
        const [a, b] = [id("a"), id("b")]
        yield* results.setResult(a, bytes("saved"))
        yield* results.record([rec(b, "successful", 1, "returned")])
        assert.deepStrictEqual(texts(yield* results.getResults([a, id("none"), b])), ["saved", null, "returned"])
        const binary = new Uint8Array([0, 255, 128, 10, 13, 0])
        yield* results.setResult(a, binary)
        assert.deepStrictEqual(Option.getOrNull(yield* results.getResult(a)), binary)
      }))

    scenario("deleteJob forgets state, result and index entries", (results, id) =>
      Effect.gen(function*() {
        const a = id("a")
        yield* results.record([rec(a, "successful", 1, "r")])
        yield* results.deleteJob(a)
        assert.isTrue(Option.isNone(yield* results.getJob(a)))
        assert.isTrue(Option.isNone(yield* results.getResult(a)))
        assert.deepStrictEqual(mine(yield* results.list("successful"), [a]), [])
        // and it can run again
        assert.deepStrictEqual(yield* results.record([rec(a, "failed", 2)]), [true])
      }))

    scenario("coordination values: get, set, create, delete", (results, id) =>
      Effect.gen(function*() {
        const k = id("k")
        assert.isTrue(Option.isNone(yield* results.get(k)))
        assert.isTrue(yield* results.create(k, bytes("one")))
        assert.isFalse(yield* results.create(k, bytes("two")))
        assert.strictEqual(Option.map(yield* results.get(k), text).pipe(Option.getOrNull), "one")
        yield* results.set(k, bytes("three"))
        assert.strictEqual(Option.map(yield* results.get(k), text).pipe(Option.getOrNull), "three")
        yield* results.delete([k])
        assert.isTrue(Option.isNone(yield* results.get(k)))
        assert.isTrue(yield* results.create(k, bytes("again")))
      }))

    scenario("add counts distinct members; members lists them", (results, id) =>
      Effect.gen(function*() {
        const s = id("set")
        assert.strictEqual(yield* results.add(s, "a"), 1)
        assert.strictEqual(yield* results.add(s, "b"), 2)
        assert.strictEqual(yield* results.add(s, "a"), 2)
        assert.deepStrictEqual([...yield* results.members(s)].sort(), ["a", "b"])
        yield* results.delete([s])
        assert.deepStrictEqual(yield* results.members(s), [])
        assert.strictEqual(yield* results.add(s, "c"), 1)
        assert.deepStrictEqual(yield* results.members(s), ["c"])
      }))

    scenario("concurrent adds each see a different size", (results, id) =>
      Effect.gen(function*() {
        const s = id("race")
        const sizes = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => `m${i}`),
          (m) => results.add(s, m),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual([...sizes].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1))
      }))

    scenario("concurrent creates of one key: exactly one wins", (results, id) =>
      Effect.gen(function*() {
        const k = id("once")
        const won = yield* Effect.forEach(
          Array.from({ length: 10 }, (_, i) => i),
          (i) => results.create(k, bytes(`${i}`)),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(won.filter(Boolean).length, 1)
      }))

    scenario("concurrent final records of one job: exactly one is applied", (results, id) =>
      Effect.gen(function*() {
        const a = id("a")
        yield* results.record([rec(a, "processing", 1)])
        const applied = yield* Effect.forEach(
          Array.from({ length: 10 }, (_, i) => i),
          (i) => results.record([rec(a, i % 2 === 0 ? "successful" : "failed", 10 + i)]),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(applied.flat().filter(Boolean).length, 1)
        const inSuccess = mine(yield* results.list("successful"), [a]).length
        const inFailed = mine(yield* results.list("failed"), [a]).length
        assert.strictEqual(inSuccess + inFailed, 1)
      }))
  })
}
