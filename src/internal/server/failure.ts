/**
 * How the failure of an attempt is kept in a job's `Meta`: in one line as `prevErr`
 * (`<tag>: <message>` for a tagged error or an `Error`, the JSON of any other value,
 * `defect: ...` for a defect) and as data as `lastError` (`TasqueueError.JobError`).
 *
 * @internal
 */
import { Cause, Option, Predicate, Schema } from "effect"
import type { JobError } from "../../TasqueueError.js"

/** a one-line description of why an attempt failed */
export const failureMessage = (cause: Cause.Cause<unknown>): string => {
  if (Cause.isInterruptedOnly(cause)) return "interrupted"
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const e = failure.value
    const tag = tagOf(e)
    const message = messageOf(e)
    if (message !== undefined && message !== "") return tag === undefined ? message : `${tag}: ${message}`
    if (tag !== undefined) return tag
    return json(e)
  }
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) return `defect: ${defectMessage(defect.value)}`
  return Cause.pretty(cause)
}

/** why an attempt failed, as data */
export const toJobError = (cause: Cause.Cause<unknown>): JobError => {
  if (Cause.isInterruptedOnly(cause)) return { _tag: "Interrupted", message: "interrupted" }
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const e = failure.value
    const tag = tagOf(e)
    const message = messageOf(e) ?? (tag === undefined ? json(e) : "")
    return { ...encoded(e), _tag: tag ?? "Failure", message }
  }
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) return { _tag: "Defect", message: defectMessage(defect.value) }
  return { _tag: "Cause", message: Cause.pretty(cause) }
}

const isObject = (e: unknown): e is object => typeof e === "object" && e !== null

const tagOf = (e: unknown): string | undefined =>
  isObject(e)
    ? "_tag" in e && typeof e._tag === "string" ? e._tag : e instanceof Error ? e.name : undefined
    : undefined

const messageOf = (e: unknown): string | undefined =>
  isObject(e) && "message" in e && typeof e.message === "string" ? e.message : undefined

const json = (e: unknown): string => {
  try {
    return JSON.stringify(e) ?? String(e)
  } catch {
    return String(e)
  }
}

const defectMessage = (d: unknown) => d instanceof Error ? `${d.name}: ${d.message}` : String(d)

/**
 * the fields of an error that is an instance of a Schema class, encoded with its class and
 * without its cause; nothing for other errors, or when the encoding is not plain JSON
 */
const encoded = (e: unknown): Record<string, unknown> => {
  if (!isObject(e) || !Schema.isSchema(e.constructor)) return {}
  try {
    const fields = Schema.encodeUnknownSync(e.constructor as unknown as Schema.Schema<unknown, unknown>)(e)
    if (!Predicate.isRecord(fields)) return {}
    const { cause: _cause, ...rest } = fields
    JSON.stringify(rest) // throws on what JSON cannot hold (bigint, cycles)
    return rest
  } catch {
    return {}
  }
}
