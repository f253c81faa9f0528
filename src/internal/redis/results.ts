/**
 * The Redis results store. One hash per job (`message`, `status`, `at`, `result`, `attempt`, and
 * `processedAt` while a claim's `processing` mark is the job's newest state, see
 * lua/includes/processing.lua, or after a success written as a patch of `message`, see
 * lua/includes/record.lua: `stateOf` merges them), two sorted sets for the success and failed
 * indexes (score: the record's `at`), coordination values and sets; all under the hash tag `{prefix}`. `record`
 * calls from many fibers go out through the connection's tick (see `tick.ts`), with the
 * acknowledgements of the moment; the scripts apply the first-final-wins rule and the fence by
 * attempt atomically. `recordAndAck` of a delivery from the broker of the store's link (see
 * link.ts), on a standalone Redis, is one script: fenced records and the acknowledgement.
 *
 * Times to live are relative (PEXPIRE), so they do not depend on the clock that wrote them.
 *
 * @internal
 */
import type { Scope } from "effect"
import { Clock, Effect, Exit, Option } from "effect"
import type { Status } from "../../Job.js"
import { isTerminal } from "../../Job.js"
import type { Enqueuer, Index, JobRecord, Page, Results } from "../../Results.js"
import { ResultsError } from "../../Results.js"
import type { Delivery, Message } from "../../Broker.js"
import type { JobEvent } from "../../JobEvent.js"
import type { Ahead, SettleAhead } from "../recordAhead.js"
import { utf8 } from "../codec.js"
import { encodeBatch } from "../events/codec.js"
import { recordAhead, settleAhead } from "../recordAhead.js"
import type { StepAhead } from "../finalStep.js"
import type { Guard, GuardedEnqueuer, OneStepEnqueue } from "../guardedEnqueue.js"
import { guardedEnqueue } from "../guardedEnqueue.js"
import type { Arg, Connection } from "./connection.js"
import { fromBuffer, toBuffer } from "./connection.js"
import { thrownMessage, safeCause } from "./errors.js"
import { resultsKeys } from "./keys.js"
import type { Link, LinkedQueue } from "./link.js"
import { packer } from "./pack.js"
import * as Scripts from "./scripts.js"
import type { Following, ResultsTarget, Tick } from "./tick.js"
import { packRecord, recordChunk, sizeOf } from "./tick.js"

/** @internal */
export interface ResultsOptions {
  readonly prefix: string
  /** ms; 0 keeps forever */
  readonly ttl: number
  /** ms; 0 keeps forever */
  readonly indexTtl: number
}

/**
 * A job's state as read. With `processedAt`, `message` is the state before the newest
 * transitions: a claim's `processing` mark (see lua/includes/processing.lua), read as that state
 * with status `processing` and this `processedAt`; or, with a final `status`, a success written
 * as a patch (see lua/includes/record.lua), read as that state with this status and
 * `processedAt`, and `finishedAt` = `at`.
 */
const stateOf = (
  message: Buffer | null,
  processedAt: Buffer | null,
  status: Buffer | null,
  at: Buffer | null
): Option.Option<Uint8Array> => {
  if (message === null) return Option.none()
  if (processedAt === null) return Option.some(fromBuffer(message))
  let state: { meta: object }
  try {
    state = JSON.parse(message.toString("utf8"))
  } catch {
    return Option.some(fromBuffer(message)) // not a state this library wrote: as it is
  }
  const started = Number(processedAt.toString("latin1"))
  const final = status === null ? undefined : status.toString("latin1")
  state.meta = final !== undefined && isTerminal(final as Status) && at !== null
    ? { ...state.meta, status: final, processedAt: started, finishedAt: Number(at.toString("latin1")) }
    : { ...state.meta, status: "processing", processedAt: started }
  return Option.some(utf8(JSON.stringify(state)))
}

/**
 * Makes the results store over a connection and its tick; with a `link` (made on the same
 * tick), it settles the deliveries of the broker given the same link in one script.
 *
 * @internal
 */
export const make = (
  conn: Connection,
  tick: Tick,
  options: ResultsOptions,
  link?: Link
): Effect.Effect<Results["Type"], ResultsError, Scope.Scope> =>
  Effect.gen(function*() {
    const key = resultsKeys(options.prefix)
    const ttl = Math.max(0, Math.ceil(options.ttl))
    const indexTtl = Math.max(0, Math.ceil(options.indexTtl))
    const target: ResultsTarget = { job: key.job, successful: key.successful, failed: key.failed, ttl, indexTtl }

    /** runs a command of the client, its failure a ResultsError naming `what` */
    const tryRedis = <A>(what: string, f: () => Promise<A>) =>
      Effect.tryPromise({
        try: f,
        catch: (cause) => new ResultsError({ message: `Redis: ${what} failed: ${thrownMessage(cause)}`, cause: safeCause(cause) })
      })

    const run = (what: string, script: Scripts.Script, keys: ReadonlyArray<string>, args: ReadonlyArray<Arg>, buffers?: boolean) =>
      tryRedis(what, () => conn.run(script, keys, args, buffers))

    link?.markIn(key.job)
    /** the worker's `processing` record of an attempt whose claim marked it already (see link.ts) */
    const marked = (records: ReadonlyArray<JobRecord>) => records.length === 1 && link !== undefined && link.takeMark(records[0]!)

    const recordSome = (records: ReadonlyArray<JobRecord>): Effect.Effect<ReadonlyArray<boolean>, ResultsError> =>
      Effect.async((resume) =>
        tick.record(records, target, {
          done: (applied) => resume(Effect.succeed(applied)),
          fail: (cause) => resume(Effect.fail(new ResultsError({ message: `Redis: record failed: ${thrownMessage(cause)}`, cause: safeCause(cause) })))
        })
      )
    /** through the tick; a long list in script calls of up to `recordChunk` records (one tick) */
    const record = (records: ReadonlyArray<JobRecord>): Effect.Effect<ReadonlyArray<boolean>, ResultsError> => {
      if (records.length === 0) return Effect.succeed([])
      if (marked(records)) return Effect.succeed([true])
      if (records.length <= recordChunk) return recordSome(records)
      const chunks: Array<ReadonlyArray<JobRecord>> = []
      for (let i = 0; i < records.length; i += recordChunk) chunks.push(records.slice(i, i + recordChunk))
      return Effect.map(Effect.forEach(chunks, recordSome, { concurrency: "unbounded" }), (applied) => applied.flat())
    }

    /** queued on the tick now; the reply is waited for later (see recordAhead.ts) */
    const ahead: Ahead = (records) => {
      if (marked(records)) return Effect.succeed([true])
      let outcome: Exit.Exit<ReadonlyArray<boolean>, ResultsError> | undefined
      let resume: ((exit: Exit.Exit<ReadonlyArray<boolean>, ResultsError>) => void) | undefined
      const told = (exit: Exit.Exit<ReadonlyArray<boolean>, ResultsError>) => {
        outcome = exit
        resume?.(exit)
      }
      tick.record(records, target, {
        done: (applied) => told(Exit.succeed(applied)),
        fail: (cause) =>
          told(Exit.fail(new ResultsError({ message: `Redis: record failed: ${thrownMessage(cause)}`, cause: safeCause(cause) })))
      })
      return Effect.async((callback) => {
        if (outcome !== undefined) return callback(outcome)
        resume = callback
      })
    }

    /**
     * For the broker of this store's link on a standalone Redis: an enqueue in one script (see
     * lua/enqueueRecorded.lua), up to `recordChunk` records per call, the guard (if any) applied
     * first in the first call (undefined when it stopped the enqueue; see guardedEnqueue.ts). It
     * is written after what the connection's next tick writes (events published before it
     * included). When `events` are the events of the same link, the script publishes the
     * `Enqueued` events it is given after its writes: a subscriber that reads the store on one
     * finds the job, and a worker that takes the job publishes its `Started` after it.
     */
    const guardedFor = (broker: object, events?: object): OneStepEnqueue | undefined => {
      const queuesOf = link?.queuesOf(broker)
      if (queuesOf === undefined) return undefined
      const channel = events === undefined ? undefined : link?.channelOf(events)
      const queues = new Map<string, LinkedQueue>()
      const one = (
        guard: Guard | undefined,
        records: ReadonlyArray<JobRecord>,
        queue: LinkedQueue,
        messages: ReadonlyArray<Message>,
        announce: ReadonlyArray<JobEvent> | undefined
      ) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.async<ReadonlyArray<boolean> | undefined, ResultsError>((resume) => {
            const packed = packer(sizeOf(records))
            for (const record of records) packRecord(packed, record)
            const announced = channel !== undefined && announce !== undefined && announce.length > 0
            const args: Array<Arg> = [
              queue.job,
              now,
              queue.signalCap,
              target.job,
              ttl,
              guard === undefined ? "" : guard._tag,
              guard === undefined ? "" : key.kv + guard.key,
              guard?._tag === "create" ? toBuffer(guard.value) : "",
              packed.done(),
              announced ? channel : "",
              announced ? encodeBatch(announce) : ""
            ]
            for (const m of messages) args.push(toBuffer(m.body), m.runAt !== undefined && m.runAt > now ? m.runAt : 0)
            const failed = (cause: unknown) =>
              resume(Effect.fail(new ResultsError({ message: `Redis: enqueue failed: ${thrownMessage(cause)}`, cause: safeCause(cause) })))
            tick.after(() => {
              conn.run(Scripts.enqueueRecorded, [...queue.keys, key.successful, key.failed], args).then(
                (reply) =>
                  resume(Effect.succeed(
                    reply === -1 ? undefined : (reply as ReadonlyArray<number>).map((flag) => flag === 1)
                  )),
                failed
              )
            })
          }))
      const enqueue: GuardedEnqueuer = (guard, records, queueName, messages, announce) => {
        let queue = queues.get(queueName)
        if (queue === undefined) queues.set(queueName, queue = queuesOf(queueName))
        const linked = queue
        if (records.length <= recordChunk) return Effect.zipRight(linked.name(), one(guard, records, linked, messages, announce))
        const chunk = (i: number) =>
          one(undefined, records.slice(i, i + recordChunk), linked, messages.slice(i, i + recordChunk), announce?.slice(i, i + recordChunk))
        const rest = Effect.forEach(
          Array.from({ length: Math.ceil(records.length / recordChunk) - 1 }, (_, i) => (i + 1) * recordChunk),
          chunk,
          { concurrency: "unbounded" }
        )
        // the first chunk alone while a guard may stop the rest
        const chunked = guard === undefined
          ? Effect.map(Effect.all([chunk(0), rest], { concurrency: 2 }), ([first, others]) => [first!, ...others].flatMap((a) => a!))
          : Effect.flatMap(
            one(guard, records.slice(0, recordChunk), linked, messages.slice(0, recordChunk), announce?.slice(0, recordChunk)),
            (first) => first === undefined ? Effect.succeed(undefined) : Effect.map(rest, (others) => [first, ...others].flatMap((a) => a!))
          )
        return Effect.zipRight(linked.name(), chunked)
      }
      return { enqueue, announces: channel !== undefined }
    }

    const enqueuerFor = (broker: object): Enqueuer | undefined => {
      const oneStep = guardedFor(broker)
      return oneStep === undefined
        ? undefined
        : (records, queue, messages) => Effect.map(oneStep.enqueue(undefined, records, queue, messages), (applied) => applied!)
    }

    /**
     * One script for a delivery of the broker of this store's link (standalone Redis): the
     * lease is checked, the records applied, the message removed. Otherwise (another broker,
     * another connection, a Cluster, where the results and the queue are in different slots):
     * record, then acknowledge.
     */
    const recordAndAck = (records: ReadonlyArray<JobRecord>, delivery: Delivery) => {
      const linked = link?.linked(delivery)
      return linked !== undefined
        ? linked.recordAndAck(records, target)
        : Effect.flatMap(record(records), (applied) => Effect.as(delivery.ack, applied))
    }

    /** `recordAndAck` of a delivery of the link's broker, queued on the tick now (see recordAhead.ts) */
    const andAckAhead: SettleAhead = (records, delivery, reply, step) => {
      const linked = link?.linked(delivery)
      if (linked === undefined) return false
      linked.recordAndAckAhead(records, target, reply, step === undefined ? undefined : following(step))
      return true
    }

    /** what follows a settle (see finalStep.ts), with this store's keys */
    const following = ({ step, told }: StepAhead): Following => ({
      follow: step._tag === "end"
        ? {
          _tag: "end",
          set: step.group === undefined ? "" : key.set + step.group.key,
          member: step.group?.member ?? "",
          size: step.group?.size ?? 0,
          key: key.kv + step.key,
          value: step.value
        }
        : {
          _tag: "next",
          guard: key.kv + step.guard,
          records: step.records,
          messages: step.messages.map((m) => ({ body: m.body, due: m.runAt ?? 0 }))
        },
      told: (flag) => told(flag === 1)
    })

    const bytes = (reply: Buffer | null) => (reply === null ? Option.none() : Option.some(fromBuffer(reply)))

    /**
     * The values that `get` reads in one turn of the event loop, read together at its end: one
     * MGET (the workers that take the deliveries of one claim each read their workflow's end).
     */
    let reads: Array<{ readonly name: string; readonly resume: (effect: Effect.Effect<Option.Option<Uint8Array>, ResultsError>) => void }> = []
    const readAll = () => {
      const these = reads
      reads = []
      const keys = these.map((read) => key.kv + read.name)
      const values = keys.length === 1
        ? conn.client.getBuffer(keys[0]!).then((value) => [value])
        : conn.client.mgetBuffer(...keys)
      values.then(
        (replies) => these.forEach((read, i) => read.resume(Effect.succeed(bytes(replies[i] ?? null)))),
        (cause) =>
          these.forEach((read) =>
            read.resume(Effect.fail(
              new ResultsError({ message: `Redis: reading ${read.name} failed: ${thrownMessage(cause)}`, cause: safeCause(cause) })
            ))
          )
      )
    }
    const get = (name: string) =>
      Effect.async<Option.Option<Uint8Array>, ResultsError>((resume) => {
        if (reads.length === 0) setImmediate(readAll)
        reads.push({ name, resume })
      })

    const getResults = (ids: ReadonlyArray<string>) =>
      ids.length === 0
        ? Effect.succeed([])
        : Effect.map(
          run("reading results", Scripts.fields, [key.successful], [key.job, "result", "0", ...ids], true),
          (reply) => (reply as ReadonlyArray<Buffer | null>).map(bytes)
        )

    /** jobs' states, with a claim's `processing` mark or a success's patch merged in (see `stateOf`) */
    const getJobs = (ids: ReadonlyArray<string>) =>
      ids.length === 0
        ? Effect.succeed([])
        : Effect.map(
          run("reading jobs", Scripts.fields, [key.successful], [key.job, "message", "1", ...ids], true),
          (reply) => {
            const fields = reply as ReadonlyArray<Buffer | null>
            const out = new Array<Option.Option<Uint8Array>>(ids.length)
            for (let i = 0; i < ids.length; i++) {
              out[i] = stateOf(fields[4 * i]!, fields[4 * i + 1]!, fields[4 * i + 2]!, fields[4 * i + 3]!)
            }
            return out
          }
        )

    const getJob = (id: string) =>
      Effect.map(
        tryRedis(`reading the job ${id}`, () => conn.client.hmgetBuffer(key.job + id, "message", "processedAt", "status", "at")),
        ([message, processedAt, status, at]) => stateOf(message ?? null, processedAt ?? null, status ?? null, at ?? null)
      )

    const getResult = (id: string) =>
      Effect.map(tryRedis(`reading the result of ${id}`, () => conn.client.hgetBuffer(key.job + id, "result")), bytes)

    const list = (index: Index, page?: Page) => {
      const offset = Math.max(0, page?.offset ?? 0)
      const limit = page?.limit
      if (limit !== undefined && limit <= 0) return Effect.succeed([])
      return tryRedis(
        `listing ${index}`,
        () =>
          conn.client.zrange(
            index === "successful" ? key.successful : key.failed,
            offset,
            limit === undefined ? -1 : offset + limit - 1
          )
      )
    }

    const count = (index: Index) =>
      tryRedis(`counting ${index}`, () => conn.client.zcard(index === "successful" ? key.successful : key.failed))

    const withTtl = (key: string, value: Buffer, nx: boolean) =>
      nx
        ? ttl > 0 ? conn.client.set(key, value, "PX", ttl, "NX") : conn.client.set(key, value, "NX")
        : ttl > 0
        ? conn.client.set(key, value, "PX", ttl)
        : conn.client.set(key, value)

    // Redis that lost its data is told apart from a reconnect to the same data by this key.
    const marker = (when: "start" | "reconnect") =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => run("checking the marker", Scripts.marker, [key.marker], [`${now}`])).pipe(
        Effect.flatMap((existed) =>
          existed === 1
            ? Effect.void
            : when === "start"
            ? Effect.logInfo(`no marker ${key.marker} found: a new keyspace (or one Redis lost before this process started)`)
            : Effect.logError(
              `Redis lost its data: the marker key ${key.marker} was gone after a reconnect. Job states and ` +
                `results written before are gone. Make Redis persistent (appendonly yes) and check for evictions.`
            )
        ),
        Effect.annotateLogs({ module: "tasqueue/Redis" })
      )
    yield* marker("start")
    yield* conn.onReconnect(marker("reconnect").pipe(Effect.catchAll((e) => Effect.logWarning(e.message))))

    const service: Results["Type"] & {
      readonly [recordAhead]: Ahead
      readonly [settleAhead]: SettleAhead
      readonly [guardedEnqueue]: (broker: object, events?: object) => OneStepEnqueue | undefined
    } = {
      [recordAhead]: ahead,
      [settleAhead]: andAckAhead,
      [guardedEnqueue]: guardedFor,
      getJob,
      getJobs,
      getResult,
      getResults,
      setResult: (id, result, by) =>
        Effect.map(
          run(`saving the result of ${id}`, Scripts.setResult, [key.job + id], [ttl, toBuffer(result), by === undefined ? "" : String(by)]),
          (applied) => applied === 1
        ),
      record,
      recordAndAck,
      enqueuerFor,
      deleteJob: (id) => Effect.asVoid(run(`deleting job ${id}`, Scripts.deleteJob, [key.successful, key.failed, key.job + id], [id])),
      list,
      count,
      get,
      set: (name, value) => Effect.asVoid(tryRedis(`writing ${name}`, () => withTtl(key.kv + name, toBuffer(value), false))),
      create: (name, value) =>
        Effect.map(tryRedis(`creating ${name}`, () => withTtl(key.kv + name, toBuffer(value), true)), (reply) => reply === "OK"),
      add: (name, member) =>
        Effect.map(run(`adding to ${name}`, Scripts.add, [key.set + name], [ttl, member]), (size) => size as number),
      members: (name) => tryRedis(`reading ${name}`, () => conn.client.smembers(key.set + name)),
      delete: (keys) =>
        keys.length === 0
          ? Effect.void
          : Effect.asVoid(tryRedis("deleting keys", () => conn.client.del(...keys.flatMap((name) => [key.kv + name, key.set + name]))))
    }
    return service
  })
