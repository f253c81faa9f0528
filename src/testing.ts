/**
 * Conformance suites for Broker and Results implementations, written once and run against
 * every backend (Memory, Redis, NATS here; yours too), and `TestServer.runUntilIdle`, which
 * runs a Server under `TestClock` until nothing is left to do. They need `vitest` and
 * `@effect/vitest`.
 *
 * @example
 * ```ts
 * // test/my-broker.test.ts
 * import { BrokerSuite } from "tasqueue/testing"
 * BrokerSuite.run("MyBroker", { layer: MyBroker.layer(...), visibilityTimeout: "30 seconds" })
 * ```
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as BrokerSuite from "./testing/BrokerSuite.js"
/** @since 0.1.0 */
export * as ResultsSuite from "./testing/ResultsSuite.js"
/** @since 0.1.0 */
export * as ServerSuite from "./testing/ServerSuite.js"
/** @since 0.1.0 */
export * as TestServer from "./testing/TestServer.js"
