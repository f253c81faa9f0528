/**
 * How the conformance suites define their tests: on the `it` of a `layer(...)` block when given
 * one (its tests run with the layer's services, built once for the block), else on vitest's
 * global `it`, as before. Either way each test gets what `it.effect` or `it.live` gives it: a
 * fresh `TestClock` (and no default logger), or the live clock.
 *
 * @internal
 */
import { it } from "@effect/vitest"
import type { Vitest } from "@effect/vitest"
import { Effect, Layer, Logger, TestContext } from "effect"

/**
 * The `it` of `layer(...)(name, (it) => ...)`, built with `excludeTestServices: true`: its tests
 * are provided with `R`.
 */
export interface LayerIt<R> {
  readonly effect: Vitest.Tester<R>
}

/** defines one test */
export type Define<R> = <A, E>(name: string, self: () => Effect.Effect<A, E, R>, timeout?: number) => void

/** what `it.effect` provides each test: test services, and no default logger */
export const testEnv = TestContext.TestContext.pipe(Layer.provide(Logger.remove(Logger.defaultLogger)))

/** the suites' `test`: real time with a clock "live" (as `it.live`), else a fresh `TestClock` (as `it.effect`) */
export const tester = <R>(live: boolean, given: LayerIt<R> | undefined): Define<R> => {
  // without a given `it` the suites' signatures require `R = never`
  if (given === undefined) return (live ? it.live : it.effect) as Define<never> as unknown as Define<R>
  if (live) return given.effect
  return (name, self, timeout) => given.effect(name, () => Effect.provide(self(), testEnv), timeout)
}
