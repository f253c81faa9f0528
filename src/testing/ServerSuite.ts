/**
 * The Server conformance suite: jobs and workflows end to end on a backend (a layer providing
 * Broker and Results). Written once, run on every backend; it checks what users see: statuses,
 * typed results, retries, groups, chains, fan-in, cancellation and the group-completion race.
 *
 * @since 0.1.0
 */
import type { Duration, Layer } from "effect"
import type { Broker } from "../Broker.js"
import type { Results } from "../Results.js"
import type { LayerIt } from "./internal/tester.js"
import * as internal from "./internal/server/suite.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<R = never> {
  /** the backend under test; each test builds it afresh and uses a queue of its own */
  readonly layer: Layer.Layer<Broker | Results, unknown, R>
  /** "test" (the default) advances TestClock; "live" waits in real time */
  readonly clock?: "test" | "live" | undefined
  /**
   * A delay long enough that a job is still waiting when the test looks ("1 hour" by default;
   * with `clock: "live"` use a few seconds: the scenario waits it out)
   */
  readonly longDelay?: Duration.DurationInput | undefined
  /** per-test timeout in milliseconds for vitest */
  readonly timeout?: number | undefined
  /**
   * The backend's visibility timeout. Given, the suite also checks that a worker whose lease ran
   * out cannot record its outcome (it waits the timeout out: keep it short with `clock: "live"`).
   */
  readonly visibilityTimeout?: Duration.DurationInput | undefined
  /** whether the backend provides `Events` (true by default): then the events scenarios run */
  readonly events?: boolean | undefined
}

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
 *   ServerSuite.run("Server on my backend", {
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
} = internal.run
