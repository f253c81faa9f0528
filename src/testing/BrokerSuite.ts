/**
 * The Broker conformance suite: one set of tests that every Broker implementation passes.
 * Call `run` inside a vitest test file with a layer of your broker.
 *
 * @since 0.1.0
 */
import type { Duration, Layer } from "effect"
import type { Broker } from "../Broker.js"
import * as internal from "./internal/broker/suite.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** the broker under test; each test builds it afresh and uses queues of its own */
  readonly layer: Layer.Layer<Broker, unknown>
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
 * @since 0.1.0
 * @category constructors
 */
export const run: (name: string, options: Options) => void = internal.run
