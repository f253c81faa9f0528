/**
 * Schedules of recurring jobs, as Tasqueue's cron library reads them: 5- or 6-field cron
 * expressions, the descriptors `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily`
 * (`@midnight`) and `@hourly`, `@every <duration>` (`5m`, `1h30m`, or "90 minutes"), and a time
 * zone, given apart or as a `CRON_TZ=<zone> ` (or `TZ=<zone> `) prefix.
 *
 * @internal
 */
import { Cron, Duration, Either, Option } from "effect"
import type { Recurrence } from "../Job.js"
import { InvalidSchedule } from "../TasqueueError.js"

const descriptors: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *"
}

const goUnits: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, "µs": 1e-3, ns: 1e-6 }
const goDuration = /^(?:\d+(?:\.\d+)?(?:h|ms|m|s|us|µs|ns))+$/
const goPart = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g

/** milliseconds of a Go duration (`1h30m`) or an Effect one (`90 minutes`) */
const intervalOf = (text: string): Option.Option<number> => {
  if (goDuration.test(text)) {
    let millis = 0
    for (const [, amount, unit] of text.matchAll(goPart)) millis += Number(amount) * goUnits[unit!]!
    return Option.some(millis)
  }
  return Option.map(
    Option.filter(Duration.decodeUnknown(text), Duration.isFinite),
    Duration.toMillis
  )
}

/** the shortest `@every` interval accepted */
const minInterval = 1000

const parsed = new Map<string, Either.Either<Recurrence, InvalidSchedule>>()

/**
 * Reads a schedule: `expression` (which may start with `CRON_TZ=<zone> `) in `timeZone`
 * (UTC when neither names one). Read once per expression and zone: each run of a series asks again.
 */
export const parse = (expression: string, timeZone?: string): Either.Either<Recurrence, InvalidSchedule> => {
  const key = `${timeZone ?? ""}\n${expression}`
  let recurrence = parsed.get(key)
  if (recurrence === undefined) {
    // kept while few: a process sees a handful of schedules, not a stream of them
    recurrence = read(expression, timeZone)
    if (parsed.size < 1000) parsed.set(key, recurrence)
  }
  return recurrence
}

const read = (expression: string, timeZone?: string): Either.Either<Recurrence, InvalidSchedule> => {
  const invalid = (message: string, cause?: unknown) =>
    Either.left(new InvalidSchedule({ schedule: expression, message: `invalid schedule "${expression}": ${message}`, cause }))
  let text = expression.trim()
  let zone = timeZone
  const prefix = /^(?:CRON_TZ|TZ)=(\S+)\s+/.exec(text)
  if (prefix !== null) {
    if (zone !== undefined && zone !== prefix[1]) return invalid(`it names time zone ${prefix[1]}, the options ${zone}`)
    zone = prefix[1]
    text = text.slice(prefix[0].length)
  }
  if (zone !== undefined && Either.isLeft(Cron.parse("* * * * *", zone))) return invalid(`unknown time zone "${zone}"`)
  if (text.startsWith("@every")) {
    const interval = intervalOf(text.slice("@every".length).trim())
    if (Option.isNone(interval)) return invalid("@every takes a duration such as 5m, 1h30m or \"90 minutes\"")
    if (interval.value < minInterval) return invalid("@every takes an interval of at least 1 second")
    return Either.right({ _tag: "Every", expression: text, timeZone: zone, interval: interval.value })
  }
  const cron = descriptors[text] ?? text
  if (cron.startsWith("@")) return invalid(`unknown descriptor (use ${Object.keys(descriptors).join(", ")} or @every)`)
  return Either.match(Cron.parse(cron, zone ?? "UTC"), {
    onLeft: (cause) => invalid(cause.message, cause),
    onRight: () => Either.right({ _tag: "Cron", expression: text, timeZone: zone })
  })
}

const crons = new Map<string, Cron.Cron>()

/** the parsed cron of a recurrence that `parse` accepted (kept per expression and zone) */
const cronOf = (expression: string, timeZone: string | undefined): Cron.Cron => {
  const key = `${timeZone ?? "UTC"} ${expression}`
  let cron = crons.get(key)
  if (cron === undefined) {
    cron = Cron.unsafeParse(descriptors[expression] ?? expression, timeZone ?? "UTC")
    if (crons.size > 1000) crons.clear()
    crons.set(key, cron)
  }
  return cron
}

/**
 * The first occurrence strictly after `after` (epoch milliseconds). An `@every` series keeps
 * its phase: from `anchor` (the time the current run was due), the first `anchor + k × interval`
 * after `after`; without an anchor, `after + interval`.
 */
export const next = (recurrence: Recurrence, after: number, anchor?: number): number => {
  if (recurrence._tag === "Every") {
    const { interval } = recurrence
    if (anchor === undefined) return after + interval
    return anchor + interval * Math.max(1, Math.floor((after - anchor) / interval) + 1)
  }
  return Cron.next(cronOf(recurrence.expression, recurrence.timeZone), new Date(after)).getTime()
}
