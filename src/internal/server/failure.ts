/**
 * How the failure of an attempt is described in a job's `prevErr`: one line, `<tag>: <message>`
 * for a tagged error or an `Error`, the JSON of any other value, `defect: ...` for a defect.
 *
 * @internal
 */
import { Cause, Option } from "effect"

/** a one-line description of why an attempt failed */
export const describe = (cause: Cause.Cause<unknown>): string => {
  if (Cause.isInterruptedOnly(cause)) return "interrupted"
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const e = failure.value
    if (typeof e === "object" && e !== null) {
      const tag = "_tag" in e && typeof e._tag === "string" ? e._tag : e instanceof Error ? e.name : undefined
      const message = "message" in e && typeof e.message === "string" ? e.message : undefined
      if (message !== undefined && message !== "") return tag === undefined ? message : `${tag}: ${message}`
      if (tag !== undefined) return tag
    }
    try {
      return JSON.stringify(e) ?? String(e)
    } catch {
      return String(e)
    }
  }
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) {
    const d = defect.value
    return `defect: ${d instanceof Error ? `${d.name}: ${d.message}` : String(d)}`
  }
  return Cause.pretty(cause)
}

/** the one-line description of an error of the server's own */
export const describeError = (e: { readonly _tag: string; readonly message: string }) => `${e._tag}: ${e.message}`
