/**
 * Validation of a backend's options. Each backend declares its public `Options` once, in its
 * `layers/` module, and one Schema whose encoded side is exactly that type (the compiler checks
 * it); decoding applies the defaults, turns times into `Duration`s, and explains every invalid
 * field in one message, quoting what the user wrote.
 *
 * @internal
 */
import { Duration, Effect, Option, ParseResult, Schema } from "effect"

/** what the user wrote, short and readable */
const show = (input: unknown): string => {
  if (typeof input === "string") return JSON.stringify(input)
  if (typeof input === "bigint") return `${input}n`
  if (Duration.isDuration(input)) return `Duration(${Duration.format(input)})`
  if (Array.isArray(input)) return `[${input.map(show).join(", ")}]`
  return String(input)
}

const DurationInput = Schema.declare(
  (input): input is Duration.DurationInput => Option.isSome(Duration.decodeUnknown(input)),
  {
    identifier: "DurationInput",
    message: (issue) =>
      `expected a duration (milliseconds, "30 seconds", or a Duration), got ${show(issue.actual)}`
  }
)

/**
 * A `Duration.DurationInput` decoded to a `Duration` that `holds`. The check sees the decoded
 * value (a negative input decodes to zero) and the message quotes the input.
 *
 * @internal
 */
export const duration = (
  expected: string,
  holds: (duration: Duration.Duration) => boolean
): Schema.Schema<Duration.Duration, Duration.DurationInput> =>
  Schema.transformOrFail(DurationInput, Schema.DurationFromSelf, {
    strict: true,
    decode: (input, _, ast) => {
      const decoded = Duration.decode(input)
      return holds(decoded)
        ? ParseResult.succeed(decoded)
        : ParseResult.fail(new ParseResult.Type(ast, input, `expected ${expected}, got ${show(input)}`))
    },
    encode: ParseResult.succeed
  })

/**
 * An integer that `holds`.
 *
 * @internal
 */
export const integer = (expected: string, holds: (n: number) => boolean): Schema.Schema<number> =>
  Schema.declare((input): input is number => typeof input === "number" && Number.isInteger(input) && holds(input), {
    identifier: "integer",
    message: (issue) => `expected ${expected}, got ${show(issue.actual)}`
  })

/**
 * One of the strings `values`.
 *
 * @internal
 */
export const oneOf = <const Values extends ReadonlyArray<string>>(...values: Values): Schema.Schema<Values[number]> =>
  Schema.declare((input): input is Values[number] => typeof input === "string" && values.includes(input), {
    identifier: "oneOf",
    message: (issue) => `expected ${values.map((v) => JSON.stringify(v)).join(" or ")}, got ${show(issue.actual)}`
  })

/**
 * Decodes options with `schema`, or fails with `onInvalid` given one message naming every
 * invalid field ("visibilityTimeout: expected ..., got -1; maxRedeliveries: ..."). A field
 * gets its first issue only: the second of an optional field says it is not `undefined`
 * either. The parse error is not passed on: it holds the whole options object, secrets
 * included.
 *
 * @internal
 */
export const decoder = <A, I, E>(schema: Schema.Schema<A, I>, onInvalid: (message: string) => E) => {
  const decode = Schema.decodeUnknown(schema, { errors: "all" })
  return (options: I): Effect.Effect<A, E> =>
    Effect.mapError(decode(options), (error) => {
      const byField = new Map<string, string>()
      for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
        const field = issue.path.join(".")
        if (!byField.has(field)) byField.set(field, field === "" ? issue.message : `${field}: ${issue.message}`)
      }
      return onInvalid([...byField.values()].join("; "))
    })
}
