/**
 * The error of the NATS layers: what went wrong while connecting or setting up streams.
 *
 * @internal
 */
import { Data } from "effect"

/**
 * Connecting to NATS or preparing the streams and bucket failed. `reason` tells why:
 * `Unreachable` (no server answered), `Unauthorized` (credentials refused), `Timeout`,
 * `JetStream` (JetStream disabled or a stream could not be created), `InvalidOptions`,
 * `MissingClient` (the `@nats-io/*` packages are not installed).
 *
 * @since 0.1.0
 * @category errors
 */
export class NatsError extends Data.TaggedError("NatsError")<{
  readonly reason: "Unreachable" | "Unauthorized" | "Timeout" | "JetStream" | "InvalidOptions" | "MissingClient"
  readonly message: string
  readonly cause?: unknown
}> {}
