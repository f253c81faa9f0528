/**
 * The error of the Redis layers' construction, kept here so that the internals and the public
 * module share one class.
 *
 * @internal
 */
import { Data } from "effect"

/**
 * The Redis layer could not be built: the server is unreachable, refused the credentials, or
 * the options are invalid. Failures of individual operations later on are `BrokerError` or
 * `ResultsError`.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisError extends Data.TaggedError("RedisError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** a short description of a thrown value */
export const describe = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === "string" ? cause : String(cause)
