/**
 * The scenario of a lost lease: a worker whose lease ran out records nothing, and the newer
 * attempt's outcome, result, callbacks and follow-up jobs stand.
 *
 * @internal
 */
import { assert } from "@effect/vitest"
import { Deferred, Duration, Effect, Option, Ref } from "effect"
import * as Server from "../../../Server.js"
import type { Kit } from "./fixtures.js"
import { Concat, Lease } from "./tasks.js"

/** the lost-lease scenario, for a backend with the given visibility timeout */
export const leases = (kit: Kit, visibilityTimeout: Duration.DurationInput): void => {
  const { advance, pause, eventually, statusOf, awaitStatus, scenario } = kit
  scenario("a worker whose lease ran out records nothing: the newer attempt's outcome stands", ({ job, probe }) =>
    Effect.gen(function*() {
      const runs = (...names: ReadonlyArray<string>) =>
        eventually(Ref.get(probe.runs), (r) => names.every((n) => r.includes(n)), `runs ${names.join(", ")}`)
      const names = ["ok", "retry", "next"]
      for (const name of names) {
        for (const attempt of [1, 2]) probe.gates.set(`${name}#${attempt}`, yield* Deferred.make<void>())
      }
      const open = (attempt: number) =>
        Effect.forEach(names, (name) => Deferred.succeed(probe.gates.get(`${name}#${attempt}`)!, undefined))
      // the stale attempt succeeds; fails with retries left; succeeds with a follow-up job
      const ok = yield* Server.enqueue(yield* job(Lease, { name: "ok" }))
      const retry = yield* Server.enqueue(yield* job(Lease, { name: "retry", failsFirst: true }, { maxRetries: 2 }))
      const next = yield* Server.enqueue(yield* job(Lease, { name: "next" }, { onSuccess: yield* job(Concat, { text: "!" }) }))
      const ids = [ok, retry, next]
      const ours = (id: unknown) => (ids as ReadonlyArray<unknown>).includes(id)
      const followUp = (yield* Server.getJob(next)).meta.onSuccessIds[0]!
      yield* runs("ok#1", "retry#1", "next#1")
      // the first attempts hang past their leases; the jobs go to second attempts
      yield* advance(Duration.sum(Duration.decode(visibilityTimeout), Duration.seconds(1)))
      yield* runs("ok#2", "retry#2", "next#2")
      // the first attempts finish now, while the second ones run
      yield* open(1)
      const staleEnded = (id: string) =>
        eventually(
          Effect.sync(() => probe.warnings.some((w) => w.id === id && w.attempt === 1)),
          (ended) => ended,
          `the first attempt of ${id} to end`
        )
      yield* Effect.forEach(ids, staleEnded)
      yield* pause
      for (const id of ids) {
        assert.strictEqual(yield* statusOf(id), "processing", `job ${id} is the second attempt's`)
        assert.isTrue(Option.isNone(yield* Effect.option(Server.getResult(Lease, id))), `job ${id} has no result yet`)
      }
      assert.deepStrictEqual((yield* Ref.get(probe.calls)).filter((c) => ours(c.id)), [], "no callback of a first attempt")
      assert.strictEqual(yield* statusOf(followUp), undefined, "no follow-up job of a first attempt")
      // the second attempts finish: their outcomes are recorded, their callbacks run once
      yield* open(2)
      for (const id of ids) yield* awaitStatus(id, "successful")
      assert.deepStrictEqual(yield* Server.getResult(Lease, ok), { text: "ok#2" })
      assert.deepStrictEqual(yield* Server.getResult(Lease, retry), { text: "retry#2" })
      assert.deepStrictEqual(yield* Server.getResult(Lease, next), { text: "next#2" })
      assert.strictEqual((yield* Server.getJob(retry)).meta.retried, 0)
      yield* awaitStatus(followUp, "successful")
      assert.deepStrictEqual(yield* Server.getResult(Concat, followUp), { text: "next#2!" })
      const calls = (yield* Ref.get(probe.calls)).filter((c) => ours(c.id))
      assert.deepStrictEqual(
        calls.map((c) => [c.callback, c.id, c.arg]).sort(),
        ids.map((id, i) => ["onSuccess", id, { text: `${names[i]}#2` }]).sort()
      )
      assert.deepStrictEqual(
        probe.warnings.filter((w) => ours(w.id)).map((w) => [w.level, w.attempt]),
        ids.map(() => ["WARN", 1])
      )
    }), { workers: 2, concurrency: 3, unrenewed: true })
}
