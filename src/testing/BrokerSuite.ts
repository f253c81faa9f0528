/**
 * The Broker conformance suite: one set of tests that every Broker implementation passes.
 * Call `run` inside a vitest test file with a layer of your broker.
 *
 * @since 0.1.0
 */
import type { Duration, Layer } from "effect"
import type { Broker } from "../Broker.js"
import type { LayerIt } from "./internal/tester.js"
import * as internal from "./internal/broker/suite.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<R = never> {
  /** the broker under test; each test builds it afresh and uses queues of its own */
  readonly layer: Layer.Layer<Broker, unknown, R>
  /** the visibility timeout the layer was configured with */
  readonly visibilityTimeout: Duration.DurationInput
  /**
   * How time moves: "test" (the default) advances `TestClock`, for brokers that read time from
   * `Clock` only; "live" waits in real time, for brokers whose server keeps time (keep the
   * visibility timeout short then).
   */
  readonly clock?: "test" | "live" | undefined
  /** real time to wait before concluding that nothing will be delivered (100 ms by default) */
  readonly quiet?: Duration.DurationInput | undefined
  /** the layer's `maxRedeliveries`, when it has one: checks dead-lettering after that many lost leases */
  readonly maxRedeliveries?: number | undefined
  /** per-test timeout in milliseconds for vitest */
  readonly timeout?: number | undefined
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
 *   BrokerSuite.run("MyBroker", {
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
