/**
 * The Redis results store. One hash per job (m message, s status, a at, r result), two sorted
 * sets for the success and failed indexes (score: the record's `at`), coordination values and
 * sets; all under the hash tag `{prefix}`. `record` calls from many fibers are micro-batched
 * into one script call; the script applies the first-final-wins rule atomically.
 *
 * Times to live are relative (PEXPIRE), so they do not depend on the clock that wrote them.
 *
 * @internal
 */
import type { Scope } from "effect"
import { Clock, Effect, Option } from "effect"
import type { Index, JobRecord, Page, Results } from "../../Results.js"
import { ResultsError } from "../../Results.js"
import * as Batcher from "./batcher.js"
import type { Arg, Connection } from "./connection.js"
import { fromBuffer, toBuffer } from "./connection.js"
import { describe } from "./errors.js"
import { resultsKeys } from "./keys.js"
import * as Scripts from "./scripts.js"

/** @internal */
export interface ResultsOptions {
  readonly prefix: string
  /** ms; 0 keeps forever */
  readonly ttl: number
  /** ms; 0 keeps forever */
  readonly indexTtl: number
}

/** records per script call */
const recordChunk = 500

/**
 * Makes the results store over a connection, with its batcher in the current scope.
 *
 * @internal
 */
export const make = (conn: Connection, options: ResultsOptions): Effect.Effect<Results["Type"], ResultsError, Scope.Scope> =>
  Effect.gen(function*() {
    const k = resultsKeys(options.prefix)
    const ttl = Math.max(0, Math.ceil(options.ttl))
    const indexTtl = Math.max(0, Math.ceil(options.indexTtl))

    const attempt = <A>(what: string, f: () => Promise<A>) =>
      Effect.tryPromise({
        try: f,
        catch: (cause) => new ResultsError({ message: `Redis: ${what} failed: ${describe(cause)}`, cause })
      })

    const run = (what: string, script: Scripts.Script, keys: ReadonlyArray<string>, args: ReadonlyArray<Arg>, buffers?: boolean) =>
      attempt(what, () => conn.run(script, keys, args, buffers))

    const recordArgs = (records: ReadonlyArray<JobRecord>) => {
      const args: Array<Arg> = [k.job, ttl, indexTtl]
      for (const r of records) {
        args.push(
          r.id,
          r.status,
          toBuffer(r.message),
          Math.round(r.at),
          r.result === undefined ? "0" : "1",
          r.result === undefined ? "" : toBuffer(r.result)
        )
      }
      return args
    }

    const recordNow = (records: ReadonlyArray<JobRecord>): Effect.Effect<ReadonlyArray<boolean>, ResultsError> => {
      if (records.length === 0) return Effect.succeed([])
      const chunks: Array<ReadonlyArray<JobRecord>> = []
      for (let i = 0; i < records.length; i += recordChunk) chunks.push(records.slice(i, i + recordChunk))
      return attempt("record", () =>
        Promise.all(chunks.map((chunk) => conn.run(Scripts.record, [k.successful, k.failed], recordArgs(chunk))))).pipe(
          Effect.map((replies) => (replies as ReadonlyArray<ReadonlyArray<number>>).flat().map((n) => n === 1))
        )
    }

    const recordBatch = yield* Batcher.make<ReadonlyArray<JobRecord>, ReadonlyArray<boolean>, ResultsError>({
      run: (calls) =>
        Effect.map(recordNow(calls.flat()), (applied) => {
          let at = 0
          return calls.map((c) => applied.slice(at, at += c.length))
        }),
      maxBatch: 256,
      closed: () => new ResultsError({ message: "the Redis results store is closed" })
    })

    const bytes = (reply: Buffer | null) => (reply === null ? Option.none() : Option.some(fromBuffer(reply)))

    const field = (name: "m" | "r") => (ids: ReadonlyArray<string>) =>
      ids.length === 0
        ? Effect.succeed([])
        : Effect.map(
          run(`reading ${name === "m" ? "jobs" : "results"}`, Scripts.fields, [k.successful], [k.job, name, ...ids], true),
          (reply) => (reply as ReadonlyArray<Buffer | null>).map(bytes)
        )

    const one = (name: "m" | "r") => (id: string) =>
      Effect.map(
        attempt(`reading the ${name === "m" ? "job" : "result"} of ${id}`, () => conn.client.hgetBuffer(k.job + id, name)),
        bytes
      )

    const list = (index: Index, page?: Page) => {
      const offset = Math.max(0, page?.offset ?? 0)
      const limit = page?.limit
      if (limit !== undefined && limit <= 0) return Effect.succeed([])
      return attempt(
        `listing ${index}`,
        () =>
          conn.client.zrange(
            index === "successful" ? k.successful : k.failed,
            offset,
            limit === undefined ? -1 : offset + limit - 1
          )
      )
    }

    const withTtl = (key: string, value: Buffer, nx: boolean) =>
      nx
        ? ttl > 0 ? conn.client.set(key, value, "PX", ttl, "NX") : conn.client.set(key, value, "NX")
        : ttl > 0
        ? conn.client.set(key, value, "PX", ttl)
        : conn.client.set(key, value)

    // Redis that lost its data is told apart from a reconnect to the same data by this key.
    const marker = (when: "start" | "reconnect") =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => run("checking the marker", Scripts.marker, [k.marker], [`${now}`])).pipe(
        Effect.flatMap((existed) =>
          existed === 1
            ? Effect.void
            : when === "start"
            ? Effect.logInfo(`no marker ${k.marker} found: a new keyspace (or one Redis lost before this process started)`)
            : Effect.logError(
              `Redis lost its data: the marker key ${k.marker} was gone after a reconnect. Job states and ` +
                `results written before are gone. Make Redis persistent (appendonly yes) and check for evictions.`
            )
        ),
        Effect.annotateLogs({ module: "tasqueue/Redis" })
      )
    yield* marker("start")
    yield* conn.onReconnect(marker("reconnect").pipe(Effect.catchAll((e) => Effect.logWarning(e.message))))

    const service: Results["Type"] = {
      getJob: one("m"),
      getJobs: field("m"),
      getResult: one("r"),
      getResults: field("r"),
      setResult: (id, result) => Effect.asVoid(run(`saving the result of ${id}`, Scripts.setResult, [k.job + id], [ttl, toBuffer(result)])),
      record: (records) => (records.length === 0 ? Effect.succeed([]) : recordBatch(records)),
      deleteJob: (id) => Effect.asVoid(run(`deleting job ${id}`, Scripts.deleteJob, [k.successful, k.failed, k.job + id], [id])),
      list,
      get: (key) => Effect.map(attempt(`reading ${key}`, () => conn.client.getBuffer(k.kv + key)), bytes),
      set: (key, value) => Effect.asVoid(attempt(`writing ${key}`, () => withTtl(k.kv + key, toBuffer(value), false))),
      create: (key, value) =>
        Effect.map(attempt(`creating ${key}`, () => withTtl(k.kv + key, toBuffer(value), true)), (reply) => reply === "OK"),
      add: (key, member) =>
        Effect.map(run(`adding to ${key}`, Scripts.add, [k.set + key], [ttl, member]), (size) => size as number),
      delete: (keys) =>
        keys.length === 0
          ? Effect.void
          : Effect.asVoid(attempt("deleting keys", () => conn.client.del(...keys.flatMap((key) => [k.kv + key, k.set + key]))))
    }
    return service
  })
