/**
 * The in-process results store: maps, with an optional time-to-live applied through `Clock`.
 * Entries expire in the order they were written (the TTL is one value), so a FIFO of
 * deadlines finds the expired ones without scanning. `recordAndAck` of a delivery from a Memory
 * broker checks the lease, records and acknowledges in one synchronous step, and a worker's
 * `processing` record is applied in the worker's own step (`recordNow`).
 *
 * @internal
 */
import { Clock, Duration, Effect, Option } from "effect"
import { isTerminal, type JobMessage, type Status } from "../../Job.js"
import type { Index, JobRecord, Page, Results } from "../../Results.js"
import { encodeMessage, sourceOf } from "../codec.js"
import type { AckNow, Now } from "../recordNow.js"
import { recordAndAckNow, recordNow } from "../recordNow.js"
import { ackNow, ackWith, isFused } from "./consumer.js"
import { Fifo } from "./heap.js"

/** @internal */
export interface ResultsOptions {
  readonly ttl?: Duration.Duration | undefined
}

interface Stored<A> {
  value: A
  expires: number
}

interface JobState {
  /** the encoded message, or the message itself until it is read */
  message: Uint8Array | JobMessage
  status: Status
  /** the newest attempt that recorded in this run, if a worker recorded */
  attempt: number | undefined
  /**
   * the job's saved result, kept with its state when entries never expire (one map entry per
   * job, not two); with a TTL results live in their own space, with their own expiry
   */
  result?: Uint8Array | undefined
}

type Space = "job" | "result" | "kv" | "set"

/** @internal */
export const make = (options: ResultsOptions): Results["Type"] => {
  const ttl = options.ttl === undefined ? Number.POSITIVE_INFINITY : Duration.toMillis(options.ttl)
  const spaces = {
    job: new Map<string, Stored<JobState>>(),
    result: new Map<string, Stored<Uint8Array>>(),
    kv: new Map<string, Stored<Uint8Array>>(),
    set: new Map<string, Stored<Set<string>>>()
  }
  const indexes: Record<Index, Map<string, number>> = { successful: new Map(), failed: new Map() }
  const expiries = new Fifo<{ readonly space: Space; readonly key: string; readonly at: number }>()

  const unindex = (id: string) => {
    indexes.successful.delete(id)
    indexes.failed.delete(id)
  }

  const sweep = (now: number) => {
    for (;;) {
      const next = expiries.peek()
      if (next === undefined || next.at > now) return
      expiries.shift()
      const { at, key, space } = next
      const map = spaces[space] as Map<string, Stored<unknown>>
      if (map.get(key)?.expires === at) {
        map.delete(key)
        if (space === "job") unindex(key)
      }
    }
  }

  const put = <A>(space: Space, key: string, value: A, now: number) => {
    const expires = now + ttl
    ;(spaces[space] as Map<string, Stored<A>>).set(key, { value, expires })
    if (expires !== Number.POSITIVE_INFINITY) expiries.push({ space, key, at: expires })
  }

  const read = <A>(space: Space, key: string, now: number): Option.Option<A> => {
    const stored = (spaces[space] as Map<string, Stored<A>>).get(key)
    return stored === undefined || stored.expires <= now ? Option.none() : Option.some(stored.value)
  }

  /** runs `f` with the current time, after dropping what has expired */
  const at = <A>(f: (now: number) => A) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      sweep(now)
      return f(now)
    })

  const recordOne = (r: JobRecord, now: number): boolean => {
    const stored = spaces.job.get(r.id)
    const current = stored === undefined || stored.expires <= now ? undefined : stored.value
    const opens = r.status === "queued" && r.attempt === undefined
    const newRun = opens && r.newRun === true
    // an enqueue's record over a job that has a state (sent twice, or late): ignored
    if (current !== undefined && opens && !newRun) return false
    if (current !== undefined && isTerminal(current.status)) {
      if (!newRun) return false
      unindex(r.id)
      spaces.result.delete(r.id)
      current.result = undefined
    } else if (current !== undefined && newRun) {
      // a new run's record over a job that has not finished (sent twice, or arriving late):
      // the job's run and the attempts recorded (its fence) stand
      return false
    }
    if (r.attempt !== undefined && current?.attempt !== undefined && r.attempt < current.attempt) return false
    const attempt = r.attempt ?? (newRun ? undefined : current?.attempt)
    const message = sourceOf(r) ?? r.message
    if (current !== undefined) {
      // the job's state is updated in place: one object per job, not one per transition
      current.message = message
      current.status = r.status
      current.attempt = attempt
      const expires = now + ttl
      if (expires !== stored!.expires) {
        stored!.expires = expires
        expiries.push({ space: "job", key: r.id, at: expires })
      }
    } else {
      put<JobState>("job", r.id, { message, status: r.status, attempt }, now)
    }
    if (r.result !== undefined) saveResult(r.id, r.result, now)
    if (r.status === "successful" || r.status === "failed") {
      const index = indexes[r.status]
      // a job not final before is in no index (a new run and expiry unindex it) unless its
      // state had expired unswept
      if (current === undefined) index.delete(r.id)
      index.set(r.id, r.at)
    }
    return true
  }

  /** saves a job's result: with its state when entries never expire and it has one, else in the result space */
  const saveResult = (id: string, result: Uint8Array, now: number) => {
    const state = ttl === Number.POSITIVE_INFINITY ? spaces.job.get(id)?.value : undefined
    if (state === undefined) put("result", id, result, now)
    else state.result = result
  }

  /** a job's saved result: the one kept with its state, else one in the result space */
  const resultOf = (id: string, now: number): Option.Option<Uint8Array> => {
    const kept = ttl === Number.POSITIVE_INFINITY ? spaces.job.get(id)?.value.result : undefined
    return kept === undefined ? read<Uint8Array>("result", id, now) : Option.some(kept)
  }

  /** a job's encoded message (encoded at the first read when it was recorded unencoded) */
  const messageOf = (state: JobState): Uint8Array =>
    state.message instanceof Uint8Array ? state.message : (state.message = encodeMessage(state.message))

  const record = (records: ReadonlyArray<JobRecord>) => at((now) => records.map((r) => recordOne(r, now)))

  const list = (index: Index, page?: Page) =>
    at(() => {
      const entries = [...indexes[index]].sort((a, b) => a[1] - b[1])
      const offset = page?.offset ?? 0
      const end = page?.limit === undefined ? undefined : offset + page.limit
      return entries.slice(offset, end).map(([id]) => id)
    })

  /** applied in the calling step (see recordNow.ts); a record's `at` is read from `Clock` */
  const now: Now = (records) => {
    const at = records[0]?.at
    if (at !== undefined) sweep(at)
    return records.map((r) => recordOne(r, r.at))
  }

  /** recorded and acknowledged in the calling step (a delivery of a Memory broker; see recordNow.ts) */
  const andAckNow: AckNow = (records, delivery, now) =>
    isFused(delivery)
      ? delivery[ackNow]((now) => {
        sweep(now)
        return records.map((r) => recordOne(r, now))
      }, now)
      : undefined

  const service: Results["Type"] & { readonly [recordNow]: Now; readonly [recordAndAckNow]: AckNow } = {
    [recordNow]: now,
    [recordAndAckNow]: andAckNow,
    getJob: (id) => at((now) => Option.map(read<JobState>("job", id, now), messageOf)),
    getJobs: (ids) => at((now) => ids.map((id) => Option.map(read<JobState>("job", id, now), messageOf))),
    getResult: (id) => at((now) => resultOf(id, now)),
    getResults: (ids) => at((now) => ids.map((id) => resultOf(id, now))),
    setResult: (id, result, attempt) =>
      at((now) => {
        const current = Option.getOrUndefined(read<JobState>("job", id, now))
        if (attempt !== undefined && current?.attempt !== undefined && attempt < current.attempt) return false
        saveResult(id, result, now)
        return true
      }),
    record,
    // a delivery of a Memory broker: checked, recorded and acknowledged at once; of another
    // broker: recorded, then acknowledged
    recordAndAck: (records, delivery) =>
      isFused(delivery)
        ? delivery[ackWith]((now) => {
          sweep(now)
          return records.map((r) => recordOne(r, now))
        })
        : Effect.flatMap(record(records), (applied) => Effect.as(delivery.ack, applied)),
    deleteJob: (id) =>
      at(() => {
        spaces.job.delete(id)
        spaces.result.delete(id)
        unindex(id)
      }),
    list,
    count: (index) => at(() => indexes[index].size),
    get: (key) => at((now) => read<Uint8Array>("kv", key, now)),
    set: (key, value) => at((now) => put("kv", key, value, now)),
    create: (key, value) =>
      at((now) => {
        if (Option.isSome(read("kv", key, now))) return false
        put("kv", key, value, now)
        return true
      }),
    add: (key, member) =>
      at((now) => {
        const current = read<Set<string>>("set", key, now)
        const set = Option.getOrElse(current, () => new Set<string>())
        set.add(member)
        if (Option.isNone(current)) put("set", key, set, now)
        return set.size
      }),
    members: (key) => at((now) => Option.match(read<Set<string>>("set", key, now), { onNone: () => [], onSome: (set) => [...set] })),
    delete: (keys) =>
      at(() => {
        for (const key of keys) {
          spaces.kv.delete(key)
          spaces.set.delete(key)
        }
      })
  }
  return service
}
