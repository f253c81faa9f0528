/**
 * The Results store in a JetStream KV bucket (the results TTL as the bucket's max age).
 *
 * - History 2: a key keeps its previous revision. nats-server 2.9's file store finds the first
 *   message of a key it replaces from a block hint it does not move when that message goes, so
 *   with history 1 a job's final record (its key's third write) looked through every block
 *   written since the job's `queued` record, once per job: a cost growing with the backlog
 *   (docs/performance.md, "NATS backlog"). With history 2 the `queued` record is still there
 *   when the final record replaces it. A finished job keeps its `processing` record too.
 *
 * - `j.<id>`: the job's state frame (status, time, encoded `JobMessage`, and the result saved
 *   with the record). Records are compare-and-set writes on the key's revision (`create` for a
 *   new job), so of concurrent final records exactly one is applied, and a final state refuses
 *   every later record but a new run's `queued` (refused over a state that is not final); an
 *   enqueue's `queued` is refused over any state. A record retries on conflict, reading the
 *   state afresh.
 * - A worker's records are fenced (see leases.ts): refused when the lease of the delivery the
 *   recording fiber took has run out, else stamped with its attempt; a record over the state of
 *   a newer attempt is refused and ends the older delivery's lease.
 * - `r.<id>`: a result saved on its own (`setResult`). `getResult` reads both keys and takes
 *   the newer of the two results (revisions are stream sequences, so they order writes).
 * - `x.s.<at>.<id>` / `x.f.<at>.<id>`: the successful and failed indexes, one empty key per
 *   entry. A final record writes its entry before the state, so whoever sees the final state
 *   finds the job listed; one that loses to another final record purges its entry before it
 *   answers. Entries are removed with a subject purge (no delete marker), all of a job's at once
 *   (`x.*.*.<id>`) when it is deleted or runs again. `list` asks the stream for the subjects
 *   under the index's prefix (one request, paged by the client), keeps the latest entry of each
 *   job and orders them by `at`, then id.
 * - `c.<key>`: coordination values; `m.<key>`: coordination sets (a JSON array), grown with a
 *   compare-and-set loop.
 *
 * @internal
 */
import type { KV, KvEntry } from "@nats-io/kv"
import { Kvm } from "@nats-io/kv"
import { DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream"
import { Clock, Effect, FiberRef, Option } from "effect"
import type { Scope } from "effect"
import { LeaseLost } from "../../Broker.js"
import { isTerminal } from "../../Job.js"
import type { Index, JobRecord, Page, Results } from "../../Results.js"
import { ResultsError } from "../../Results.js"
import type { ResultsConfig } from "./config.js"
import type { Connection } from "./connection.js"
import { NatsError } from "./errors.js"
import type { JobState } from "./frame.js"
import { decodeState, encodeState, indexKey, indexPrefix, jobStateKey, resultKey, setKey, valueKey } from "./frame.js"
import { awaitLeader, countMessages, thrownMessage, ensureStream, isTransient, nanos, setupRetry, tryJs, wrongLastSequence } from "./jetstream.js"
import { decodeToken, encodeToken, maxTokenLength } from "./names.js"
import type { Lease } from "./leases.js"
import { currentLease } from "./leases.js"
import { Revisions } from "./revisions.js"

const resultsError = (message: string) => (cause: unknown) =>
  new ResultsError({ message: `${message}: ${thrownMessage(cause)}`, cause })

/** a worker's record refused because its lease is lost: a `ResultsError` caused by `LeaseLost` */
const leaseLost = (lease: Lease, why: string) =>
  new ResultsError({
    message: `job ${lease.id}: the lease of attempt ${lease.attempt} is lost (${why}); its record is refused`,
    cause: new LeaseLost({
      queue: lease.queue,
      id: lease.id,
      attempt: lease.attempt,
      message: `lease of job ${lease.id} (attempt ${lease.attempt}) on ${lease.queue} is lost: ${why}`
    })
  })

const empty = new Uint8Array(0)
const encoder = new TextEncoder()
const decoder = new TextDecoder()

type Write = { readonly _tag: "Written"; readonly revision: number } | { readonly _tag: "Conflict" }

/** @internal */
export const make = (
  conn: Connection,
  config: ResultsConfig,
  revisions: Revisions = new Revisions()
): Effect.Effect<Results["Type"], NatsError, Scope.Scope> =>
  Effect.gen(function*() {
    const bucket = config.names.bucket
    // the bucket's stream, as the KV client would create it; made here so that processes starting
    // at once agree on it, and brought to the configured TTL and replicas when it exists
    const stream = `KV_${bucket}`
    const kv: KV = yield* tryJs(async () => {
      await ensureStream(conn, {
        name: stream,
        subjects: [`$KV.${bucket}.>`],
        retention: RetentionPolicy.Limits,
        // 2, not 1: see the module's comment
        max_msgs_per_subject: 2,
        discard: DiscardPolicy.New,
        allow_rollup_hdrs: true,
        storage: config.storage === "memory" ? StorageType.Memory : StorageType.File,
        num_replicas: config.replicas,
        allow_direct: config.replicas === 1,
        max_age: config.ttl === undefined ? 0 : nanos(config.ttl),
        ...(config.ttl === undefined || config.ttl >= 120_000 ? {} : { duplicate_window: nanos(config.ttl) })
      })
      return new Kvm(conn.js).open(bucket, { allow_direct: config.replicas === 1 })
    }, (cause) => new NatsError({ reason: "JetStream", message: `cannot set up the KV bucket ${bucket}: ${thrownMessage(cause)}`, cause })).pipe(
      setupRetry
    )
    if (config.replicas > 1) {
      yield* Effect.mapError(
        awaitLeader(conn, stream),
        (cause) => new NatsError({ reason: "JetStream", message: `the KV bucket ${bucket} has no leader: ${thrownMessage(cause)}`, cause })
      )
    }

    const remember = (id: string, revision: number, status: JobState["status"], attempt: number) => {
      if (isTerminal(status)) revisions.delete(id)
      else revisions.set(id, revision, attempt)
    }

    /** a job id as one KV key token, or why it cannot be one */
    const tokenOf = (id: string): string | ResultsError => {
      const t = encodeToken(id)
      return t.length > maxTokenLength ? new ResultsError({ message: `id is too long for a KV key: ${id.slice(0, 40)}...` }) : t
    }

    const token = (id: string) =>
      Effect.suspend(() => {
        const t = tokenOf(id)
        return typeof t === "string" ? Effect.succeed(t) : Effect.fail(t)
      })

    /** a read; one that timed out (a leader being elected) is tried again */
    const get = (key: string) => tryJs(() => readEntry(key), toResultsError(`cannot read ${key} from ${bucket}`))

    const live = (entry: KvEntry | null): KvEntry | undefined =>
      entry !== null && entry.operation === "PUT" ? entry : undefined

    /** `writeNow` (a compare-and-set write) as an Effect */
    const write = (key: string, value: Uint8Array, revision: number | undefined): Effect.Effect<Write, ResultsError> =>
      Effect.map(
        tryJs(() => writeNow(key, value, revision), toResultsError(`cannot write ${key} to ${bucket}`)),
        (written): Write => (written === undefined ? { _tag: "Conflict" } : { _tag: "Written", revision: written })
      )

    const put = (key: string, value: Uint8Array) =>
      tryJs(() => putNow(key, value), toResultsError(`cannot write ${key} to ${bucket}`))

    const purge = (key: string) => tryJs(() => purgeNow(key), toResultsError(`cannot delete ${key} from ${bucket}`))

    /**
     * Removes index entries (`key` may be a wildcard) without leaving delete markers, so that
     * listing the subjects lists the index.
     */
    const unindex = (key: string) => tryJs(() => unindexNow(key), toResultsError(`cannot delete ${key} from ${bucket}`))

    /** every index entry of a job, in both indexes (orphans of a crash included) */
    const allIndexEntries = (ti: string) => `x.*.*.${ti}`

    const indexOf = (state: JobState, ti: string): string | undefined =>
      state.status === "successful" || state.status === "failed" ? indexKey(state.status, state.at, ti) : undefined

    /** a failure inside a promise-based step, as a `ResultsError` (one thrown as such is kept) */
    const toResultsError = (message: string) => (cause: unknown) =>
      cause instanceof ResultsError ? cause : resultsError(message)(cause)

    /** a read, as a promise (the record path); one that timed out (a leader being elected) is tried again */
    const readEntry = async (key: string): Promise<KvEntry | null> => {
      for (let tries = 0;; tries++) {
        try {
          return await kv.get(key)
        } catch (cause) {
          if (tries < 2 && isTransient(cause)) continue
          throw resultsError(`cannot read ${key} from ${bucket}`)(cause)
        }
      }
    }

    /**
     * A compare-and-set write, as a promise (the record path): over `revision`, or a creation
     * when there is none (the subject is empty or ends with a delete marker). Gives the new
     * revision, or undefined on a conflict. In a cluster, nats-server 2.9 checks an expected
     * last subject sequence other than 0 only before proposing the write, so two writers over
     * one revision could both pass; the message id `<key>@<revision>` makes the second a
     * duplicate when the writes are applied, in order, on every replica. (A standalone server
     * checks at apply time already; there no message id is sent, and the duplicate window of
     * the bucket stays empty.)
     */
    const writeNow = async (key: string, value: Uint8Array, revision: number | undefined): Promise<number | undefined> => {
      try {
        const ack = await conn.publish(`$KV.${bucket}.${key}`, value, {
          expectLastSubjectSequence: revision ?? 0,
          msgId: revision === undefined || revision === 0 || conn.nc.info?.cluster === undefined
            ? undefined
            : `${key}@${revision}`
        })
        return ack.duplicate ? undefined : ack.seq
      } catch (cause) {
        if (wrongLastSequence(cause) !== undefined) return undefined
        throw resultsError(`cannot write ${key} to ${bucket}`)(cause)
      }
    }

    const putNow = (key: string, value: Uint8Array) =>
      conn.publish(`$KV.${bucket}.${key}`, value).catch((cause) => {
        throw resultsError(`cannot write ${key} to ${bucket}`)(cause)
      })

    /**
     * Stores an index entry once: a put of an entry that exists (a record sent again, a put
     * retried after a lost ack) is refused by the server and counts as done, so that the bucket
     * (history 2) never holds two messages for one entry and `count` counts entries.
     */
    const indexNow = (key: string) =>
      conn.publish(`$KV.${bucket}.${key}`, empty, { expectLastSubjectSequence: 0 }).then(
        () => undefined,
        (cause) => {
          if (wrongLastSequence(cause) !== undefined) return undefined
          throw resultsError(`cannot write ${key} to ${bucket}`)(cause)
        }
      )

    /** removes index entries without delete markers (see `unindex`) */
    const unindexNow = (key: string) =>
      conn.jsm.streams.purge(stream, { filter: `$KV.${bucket}.${key}` }).catch((cause) => {
        throw resultsError(`cannot delete ${key} from ${bucket}`)(cause)
      })

    const purgeNow = (key: string) =>
      kv.purge(key).catch((cause) => {
        throw resultsError(`cannot delete ${key} from ${bucket}`)(cause)
      })

    /**
     * One record. A final `successful` / `failed` record writes its index entry first and the
     * state second, so whoever sees the final state finds the job in its index; a record that
     * loses to another final one takes its entry back before it answers.
     *
     * The entry is not awaited before the state is written: both are publishes to the bucket's
     * stream on one connection, which the server stores in the order they were sent, so the
     * entry is stored before the state (one round trip for the two instead of two in a row).
     * Its ack is awaited before the record answers; when it failed, the entry is put again (a
     * state applied without it would be missing from the index), and a second failure fails the
     * record (the caller's retry writes the entry first again).
     *
     * A plain promise: a record is the hot path of every job (two per run), and its steps are
     * requests one after the other, so one Effect wraps them all (`record`).
     */
    const recordOne = async (r: JobRecord, ti: string, lease: Lease | undefined): Promise<boolean> => {
      // the lease's attempt for a worker's own job, else the attempt the record carries (0: an enqueue)
      const attempt = lease?.attempt ?? r.attempt ?? 0
      const key = jobStateKey(ti)
      const frame = encodeState({ status: r.status, at: r.at, message: r.message, result: r.result, attempt })
      const ownIndex = r.status === "successful" || r.status === "failed" ? indexKey(r.status, r.at, ti) : undefined
      // sent now, stored before the state written below (see above); awaited before answering
      const indexing = ownIndex === undefined ? undefined : indexNow(ownIndex).then(() => true, () => false)
      /** the entry is stored: put again once if its first put failed */
      const indexed = async () => {
        if (ownIndex !== undefined && !(await indexing!)) await indexNow(ownIndex)
      }
      /** the entry is taken back: once its put is answered, so that the purge comes after it */
      const unindexOwn = async () => {
        await indexing
        await unindexNow(ownIndex!)
      }

      /** a new run (`queued` over a final state) starts clean: no index entry, no result */
      const applied = async (previous: JobState | undefined, revision: number) => {
        await indexed()
        remember(r.id, revision, r.status, attempt)
        if (r.status === "queued" && previous !== undefined && isTerminal(previous.status)) {
          await Promise.all([unindexNow(allIndexEntries(ti)), purgeNow(resultKey(ti))])
        }
        return true
      }

      // over a known revision no read is needed: a conflict means someone wrote since (unless
      // a newer attempt of this process wrote it: then the state is read and compared)
      // an enqueue's record (`queued`, no attempt) is refused over any state; a new run's starts
      // a new run of a finished job and is refused over one not finished (sent twice, or late);
      // a worker's release starts no new run
      const opens = r.status === "queued" && attempt === 0
      const reopens = opens && r.newRun === true
      const known = opens ? undefined : revisions.get(r.id)
      if (known !== undefined && known.attempt <= attempt) {
        const revision = await writeNow(key, frame, known.revision)
        if (revision !== undefined) return applied(undefined, revision)
        revisions.delete(r.id)
      } else if (known === undefined && r.status === "queued") {
        // a new job, usually: try to create its state; a conflict means it has one, read below
        const revision = await writeNow(key, frame, undefined)
        if (revision !== undefined) return applied(undefined, revision)
      }
      for (let tries = 0; tries < 100; tries++) {
        const entry = await readEntry(key)
        const e = live(entry)
        const current = e === undefined ? undefined : decodeState(e.value)
        // a worker's record (attempt > 0) over the state of a newer attempt: its lease is lost
        const stale = attempt > 0 && current !== undefined && current.attempt > attempt
        if (opens && current !== undefined && (!reopens || !isTerminal(current.status))) return false
        if (stale || (!reopens && current !== undefined && isTerminal(current.status))) {
          if (ownIndex !== undefined && ownIndex !== indexOf(current!, ti)) await unindexOwn()
          else await indexing
          if (stale && lease !== undefined) {
            lease.lose()
            if (r.status === "processing") throw leaseLost(lease, `attempt ${current!.attempt} recorded since`)
          }
          return false
        }
        const revision = await writeNow(key, frame, entry === null ? undefined : entry.revision)
        if (revision !== undefined) return applied(current, revision)
      }
      if (ownIndex !== undefined) await unindexOwn()
      throw new ResultsError({ message: `recording job ${r.id}: too many concurrent writes` })
    }

    /**
     * A record of the job whose delivery the recording fiber works on is fenced by its lease
     * (see leases.ts): refused when the lease ran out, and stamped with its attempt otherwise.
     * A refused `processing` record fails (the Server would take a refusal for a final state);
     * the others give false, and the delivery's settlement then fails with `LeaseLost`.
     */
    const fence = async (r: JobRecord, ti: string, lease: Lease | undefined, now: number): Promise<boolean> => {
      if (lease === undefined || lease.id !== r.id) return recordOne(r, ti, undefined)
      if (!lease.holds(now)) {
        if (r.status === "processing") throw leaseLost(lease, "the visibility timeout ran out")
        return false
      }
      return recordOne(r, ti, lease)
    }

    /** records of one job are applied in order; different jobs at once */
    const recordAll = async (
      records: ReadonlyArray<JobRecord>,
      tokens: ReadonlyArray<string>,
      lease: Lease | undefined,
      now: number
    ) => {
      const out: Array<boolean> = new Array(records.length).fill(false)
      if (records.length === 1) {
        out[0] = await fence(records[0]!, tokens[0]!, lease, now)
        return out
      }
      const groups = new Map<string, Array<number>>()
      records.forEach((r, i) => {
        const g = groups.get(r.id)
        if (g === undefined) groups.set(r.id, [i])
        else g.push(i)
      })
      await Promise.all(Array.from(groups.values(), async (indexes) => {
        for (const i of indexes) out[i] = await fence(records[i]!, tokens[i]!, lease, now)
      }))
      return out
    }

    const record = (records: ReadonlyArray<JobRecord>): Effect.Effect<ReadonlyArray<boolean>, ResultsError> =>
      Effect.suspend(() => {
        const tokens: Array<string> = []
        for (const r of records) {
          const t = tokenOf(r.id)
          if (typeof t !== "string") return Effect.fail(t)
          tokens.push(t)
        }
        return Effect.flatMap(
          Effect.zip(FiberRef.get(currentLease), Clock.currentTimeMillis),
          ([lease, now]) =>
            Effect.tryPromise({ try: () => recordAll(records, tokens, lease, now), catch: toResultsError("cannot record job states") })
        )
      })

    const readState = (id: string) =>
      Effect.flatMap(token(id), (ti) =>
        Effect.map(get(jobStateKey(ti)), (entry) => {
          const e = live(entry)
          return e === undefined ? undefined : { state: decodeState(e.value), revision: e.revision }
        }))

    const getJob = (id: string) =>
      Effect.map(readState(id), (s) => Option.fromNullable(s?.state?.message))

    const getResult = (id: string) =>
      Effect.gen(function*() {
        const ti = yield* token(id)
        const [saved, state] = yield* Effect.all([get(resultKey(ti)), get(jobStateKey(ti))], { concurrency: 2 })
        const s = live(saved)
        const j = live(state)
        const withRecord = j === undefined ? undefined : decodeState(j.value)?.result
        if (s !== undefined && (withRecord === undefined || s.revision > j!.revision)) return Option.some(s.value)
        return Option.fromNullable(withRecord)
      })

    /**
     * A worker's save (with `attempt`) is fenced as its records are: refused when the lease of
     * the fiber's delivery of this job ran out, or when a newer attempt has recorded. (The check
     * and the write are two steps: a newer attempt's first record between them is not seen.)
     */
    const setResult = (id: string, result: Uint8Array, attempt?: number) =>
      Effect.gen(function*() {
        const ti = yield* token(id)
        if (attempt !== undefined) {
          const [lease, now] = yield* Effect.zip(FiberRef.get(currentLease), Clock.currentTimeMillis)
          const own = lease !== undefined && lease.id === id ? lease : undefined
          if (own !== undefined && !own.holds(now)) return false
          const stored = yield* readState(id)
          if (stored?.state !== undefined && stored.state.attempt > attempt) {
            own?.lose()
            return false
          }
        }
        yield* put(resultKey(ti), result)
        return true
      })

    /** an index's entries, counted by the server */
    const count = (index: Index) =>
      tryJs(
        () => countMessages(conn, stream, `$KV.${bucket}.${indexPrefix(index)}.>`),
        resultsError(`cannot count the ${index} jobs`)
      )

    /** an index is the set of its keys' subjects: one stream-info request lists them (paged by the client) */
    const list = (index: Index, page?: Page) =>
      Effect.gen(function*() {
        const prefix = `$KV.${bucket}.${indexPrefix(index)}.`
        const info = yield* tryJs(
          () => conn.jsm.streams.info(stream, { subjects_filter: `${prefix}>` }),
          resultsError(`cannot list the ${index} jobs`)
        )
        // one entry per job: a crash between an entry and its state can leave an older one
        const latest = new Map<string, number>()
        for (const subject of Object.keys(info.state.subjects ?? {})) {
          const rest = subject.slice(prefix.length)
          const dot = rest.indexOf(".")
          const at = Number(rest.slice(0, dot))
          const token = rest.slice(dot + 1)
          if (!(at <= (latest.get(token) ?? -1))) latest.set(token, at)
        }
        const entries = [...latest].map(([token, at]) => ({ at, token }))
        entries.sort((a, b) => a.at - b.at || (a.token < b.token ? -1 : a.token > b.token ? 1 : 0))
        const offset = page?.offset ?? 0
        const end = page?.limit === undefined ? undefined : offset + page.limit
        return entries.slice(offset, end).map((e) => decodeToken(e.token))
      })

    const deleteJob = (id: string) =>
      Effect.gen(function*() {
        const ti = yield* token(id)
        revisions.delete(id)
        yield* Effect.all(
          [purge(jobStateKey(ti)), purge(resultKey(ti)), unindex(allIndexEntries(ti))],
          { concurrency: "unbounded", discard: true }
        )
      })

    const add = (key: string, member: string) =>
      Effect.gen(function*() {
        const setEntry = setKey(yield* token(key))
        for (let tries = 0; tries < 1000; tries++) {
          const entry = yield* get(setEntry)
          const current = live(entry)
          const members: Array<string> = current === undefined ? [] : JSON.parse(decoder.decode(current.value))
          if (members.includes(member)) return members.length
          members.push(member)
          const written = yield* write(setEntry, encoder.encode(JSON.stringify(members)), entry === null ? undefined : entry.revision)
          if (written._tag === "Written") return members.length
        }
        return yield* new ResultsError({ message: `adding to set ${key}: too many concurrent writes` })
      })

    return {
      getJob,
      getJobs: (ids) => Effect.forEach(ids, getJob, { concurrency: "unbounded" }),
      getResult,
      getResults: (ids) => Effect.forEach(ids, getResult, { concurrency: "unbounded" }),
      setResult,
      record,
      deleteJob,
      list,
      count,
      get: (key) =>
        Effect.flatMap(token(key), (t) => Effect.map(get(valueKey(t)), (entry) => Option.fromNullable(live(entry)?.value))),
      set: (key, value) => Effect.asVoid(Effect.flatMap(token(key), (t) => put(valueKey(t), value))),
      create: (key, value) =>
        Effect.flatMap(token(key), (t) =>
          Effect.map(get(valueKey(t)), (entry) => entry).pipe(
            Effect.flatMap((entry) =>
              live(entry) !== undefined
                ? Effect.succeed(false)
                : Effect.map(write(valueKey(t), value, entry === null ? undefined : entry.revision), (w) => w._tag === "Written")
            )
          )),
      add,
      members: (key) =>
        Effect.flatMap(token(key), (t) =>
          Effect.map(get(setKey(t)), (entry): ReadonlyArray<string> => {
            const e = live(entry)
            return e === undefined ? [] : JSON.parse(decoder.decode(e.value))
          })),
      delete: (keys) =>
        Effect.forEach(keys, (key) =>
          Effect.flatMap(token(key), (t) =>
            Effect.all([purge(valueKey(t)), purge(setKey(t))], { concurrency: 2, discard: true })), {
          concurrency: "unbounded",
          discard: true
        })
    }
  })
