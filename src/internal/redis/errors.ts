/**
 * The error of the Redis layers' construction, kept here so that the internals and the public
 * module share one class.
 *
 * @internal
 */
import { Data } from "effect"

/**
 * The Redis layer could not be built. `reason` tells why: `Unreachable` (no answer, or the
 * connection failed, TLS included), `Unauthorized` (credentials refused), `InvalidOptions`,
 * `MissingClient` (ioredis is not installed). Failures of individual operations later on are
 * `BrokerError` or `ResultsError`.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisError extends Data.TaggedError("RedisError")<{
  readonly reason: "Unreachable" | "Unauthorized" | "InvalidOptions" | "MissingClient"
  readonly message: string
  readonly cause?: unknown
}> {}

/** a short description of a thrown value */
export const thrownMessage = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === "string" ? cause : String(cause)

/**
 * A thrown value as an error may keep it as its `cause`. An ioredis error carries the command it
 * answered (`command.args`: the password of an AUTH, job payloads of a script), and a thrown
 * object may carry anything, so only the name, message and `code` of an error, and of the
 * errors it wraps, are kept; anything else becomes its description.
 */
export const safeCause = (cause: unknown, depth = 0): unknown => {
  if (!(cause instanceof Error)) return typeof cause === "string" ? cause : thrownMessage(cause)
  const safe: Error & { code?: string | number } = new Error(cause.message)
  safe.name = cause.name
  if (cause.stack !== undefined) safe.stack = cause.stack
  const code = (cause as { readonly code?: unknown }).code
  if (typeof code === "string" || typeof code === "number") safe.code = code
  if (cause.cause !== undefined && depth < 4) safe.cause = safeCause(cause.cause, depth + 1)
  return safe
}
