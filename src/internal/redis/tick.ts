/**
 * The tick of a connection: one micro-batcher for everything on a job's hot path, so that the
 * records and acknowledgements that many fibers make at about the same time leave in one
 * socket write, as few script calls as the keys allow, and come back in one round trip.
 *
 * Three kinds of items queue here: records (the results store's `record`), acknowledgements of
 * a consumer's deliveries, and acknowledgements with records (`recordAndAck`). While one tick is
 * in flight the next one fills; then it is sent as:
 * - on a standalone Redis, one `settle` call per consumer that has acknowledgements carrying
 *   records (the first such call, or else the first consumer's call, also takes the plain
 *   records), one `ack` call per other consumer, and one `record` call per 500 records left;
 *   all written at once (the socket is corked around them);
 * - on a Cluster, where the results and each queue are in different slots: `record` calls for
 *   the records and one `ack` call per consumer (acknowledgements carrying records never come
 *   here on a Cluster: the results store records, then acknowledges).
 *
 * Each consumer's call also claims messages for the slots it frees (see `Participant`), so a
 * busy worker gets its next jobs in the same round trip.
 *
 * A fourth kind, `after` (an event's PUBLISH, an enqueue's script), is written after the calls
 * queued before it. When nothing is queued or on its way, the `after`s of a turn are written
 * together at its end, the socket corked: a job enqueued alone sends its Enqueued event and its
 * enqueue script in one socket write.
 *
 * @internal
 */
import type { Scope } from "effect"
import { Clock, Effect } from "effect"
import type { JobRecord } from "../../Results.js"
import { patchOf } from "../codec.js"
import type { Arg, Connection, Reply, ScriptCall } from "./connection.js"
import type { Packer } from "./pack.js"
import { packer } from "./pack.js"
import { waiting } from "../waiting.js"
import * as Scripts from "./scripts.js"

/** where a results store keeps job states: what a record needs besides itself */
export interface ResultsTarget {
  /** prefix of the per-job hashes */
  readonly job: string
  readonly successful: string
  readonly failed: string
  /** ms; 0 keeps forever */
  readonly ttl: number
  /** ms; 0 keeps forever */
  readonly indexTtl: number
}

/** a leased message a consumer acknowledges */
export interface Lease {
  readonly id: string
  /** the fencing token, as sent to scripts */
  readonly attempt: string
  /**
   * its claim marked the job `processing` in the results store (see lua/includes/processing):
   * a success recorded with its acknowledgement may then go as a patch (see `patchOf`)
   */
  readonly marked?: boolean
}

/** the claim that rides on a consumer's call */
export interface Claim {
  /** the call's ARGV up to the reply keys to forget (see lua/claim.lua) */
  readonly args: Array<Arg>
  /** how many messages it claims */
  readonly n: number
  /** the key the call leaves its reply under */
  readonly replyKey: string
}

/**
 * A consumer that acknowledges through the tick. `begin` is called when its call is built, with
 * the leases it acknowledges, and gives the claim part of the call; `end` is called once the
 * reply arrived (`from`: where the claim's part of it begins) or the call failed (`reply`
 * undefined), before any of the acknowledging fibers resumes.
 */
export interface Participant<L extends Lease> {
  /** KEYS of its queue: ready, delayed, leases, signal, dead */
  readonly claimKeys: ReadonlyArray<string>
  readonly begin: (now: number, leases: ReadonlyArray<L>) => Claim
  readonly end: (claim: Claim, leases: ReadonlyArray<L>, reply: ReadonlyArray<Reply> | undefined, from: number) => void
}

/** what is told the outcome of an item: called once, from the reply's callback */
export interface Waiter<A> {
  readonly done: (value: A) => void
  readonly fail: (cause: unknown) => void
}

interface RecordItem {
  readonly _tag: "record"
  readonly records: ReadonlyArray<JobRecord>
  readonly target: ResultsTarget
  readonly waiter: Waiter<ReadonlyArray<boolean>>
}

/**
 * What follows a workflow job's success in the same script (a `settle` entry 'w', see
 * lua/settle.lua and finalStep.ts), with the keys of this Redis: the workflow's end, once the
 * job's group (if any: `set` '') holds `size` members; or its chain's next step, enqueued in the
 * acknowledging consumer's queue unless `guard` (the workflow's end) exists.
 */
export type Follow =
  | {
    readonly _tag: "end"
    readonly set: string
    readonly member: string
    readonly size: number
    readonly key: string
    readonly value: Uint8Array
  }
  | {
    readonly _tag: "next"
    readonly guard: string
    readonly records: ReadonlyArray<JobRecord>
    readonly messages: ReadonlyArray<{ readonly body: Uint8Array; readonly due: number }>
  }

/** a `Follow` sent with a settle, and what is told its flag (1 done, 0 not, -1 the workflow had ended) */
export interface Following {
  readonly follow: Follow
  readonly told: (flag: number) => void
}

/** an acknowledgement, with the records that go with it; gives 1 or 0 (lease lost), then 1 or 0 per record */
interface SettleItem {
  readonly _tag: "settle"
  readonly participant: Participant<any>
  readonly lease: Lease
  readonly records: ReadonlyArray<JobRecord> | undefined
  readonly target: ResultsTarget | undefined
  readonly waiter: Waiter<ReadonlyArray<number>>
  /** told before `waiter` */
  readonly following: Following | undefined
}

/** told once every item queued before it has been sent and answered */
interface BarrierItem {
  readonly _tag: "barrier"
  readonly waiter: Waiter<void>
}

/** run once the calls of its tick are written, so that what it writes follows them */
interface AfterItem {
  readonly _tag: "after"
  readonly waiter: Waiter<void>
}

type Item = RecordItem | SettleItem | BarrierItem | AfterItem

/** a script call of a tick, with what to do with its reply */
interface Call extends ScriptCall {
  readonly reply: (reply: ReadonlyArray<Reply>) => void
  readonly fail: (cause: unknown) => void
}

/**
 * The tick of one connection.
 *
 * @internal
 */
export interface Tick {
  /**
   * records through the next tick; `waiter` is told, per record, whether it was applied (or
   * the failure; at once when the tick is closed)
   */
  readonly record: (records: ReadonlyArray<JobRecord>, target: ResultsTarget, waiter: Waiter<ReadonlyArray<boolean>>) => void
  /**
   * acknowledges `lease` through the next tick, with `records` (for `target`) applied in the
   * same script while the lease holds (standalone Redis only: see `fuses`); `waiter` is told 1
   * or 0 (lease lost), then 1 or 0 per record
   */
  readonly settle: <L extends Lease>(
    participant: Participant<L>,
    lease: L,
    records: ReadonlyArray<JobRecord> | undefined,
    target: ResultsTarget | undefined,
    waiter: Waiter<ReadonlyArray<number>>,
    following?: Following
  ) => void
  /** waits until every item queued before it has been sent and answered */
  readonly barrier: Effect.Effect<void>
  /**
   * runs `write` once the calls of the next tick are written (at once when the tick is closed):
   * commands it sends on the connection reach Redis after them (events after their states).
   * When no tick is on its way, the socket is corked until then: commands sent meanwhile leave
   * in the same socket write, in the order they were sent (one write, not one per command).
   */
  readonly after: (write: () => void) => void
  /** whether acknowledgements may carry records (a standalone Redis) */
  readonly fuses: boolean
}

/**
 * Resumes once the microtasks of the current turn of the event loop have run (Effect's default
 * scheduler runs fibers in microtasks). Not a timer: no time passes, nor is any read.
 */
const endOfTurn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** records per `record` call, and the most records that ride on one consumer's call */
export const recordChunk = 500
/** items per tick */
const maxItems = 1000

/** appends whether there is a result ("1" or "0"), then the result (or "") */
const packResult = (packed: Packer, result: Uint8Array | undefined) => {
  if (result === undefined) {
    packed.string("0")
    packed.string("")
  } else {
    packed.string("1")
    packed.bytes(result)
  }
}

/** appends a record's seven values (see lua/includes/record.lua) */
export const packRecord = (packed: Packer, record: JobRecord) => {
  packed.string(record.id)
  packed.string(record.status)
  packed.bytes(record.message)
  packed.string(String(Math.round(record.at)))
  packResult(packed, record.result)
  packed.string(record.attempt !== undefined ? String(record.attempt) : record.newRun === true ? "new" : "")
}

/** a guess of the packed size of records, to allocate once */
export const sizeOf = (records: ReadonlyArray<JobRecord>) => {
  let size = 64
  for (const record of records) size += 120 + record.id.length + record.message.length + (record.result?.length ?? 0)
  return size
}

/** appends a `settle` entry 'w' (see lua/settle.lua) */
const packFollow = (packed: Packer, follow: Follow) => {
  packed.string("w")
  if (follow._tag === "end") {
    packed.string("e")
    packed.string(follow.set)
    packed.string(follow.member)
    packed.string(String(follow.size))
    packed.string(follow.key)
    packed.bytes(follow.value)
    return
  }
  packed.string("n")
  packed.string(follow.guard)
  packed.string(String(follow.records.length))
  for (const record of follow.records) packRecord(packed, record)
  for (const message of follow.messages) {
    packed.bytes(message.body)
    packed.string(String(message.due))
  }
}

/** a guess of a `Follow`'s packed size */
const followSize = (follow: Follow) => {
  if (follow._tag === "end") return 64 + follow.set.length + follow.key.length + follow.value.length
  let size = 64 + follow.guard.length + sizeOf(follow.records)
  for (const message of follow.messages) size += 16 + message.body.length
  return size
}

/**
 * The attempt's start when `item` acknowledges with one success that goes as a patch of the
 * job's stored state (see `successPatch`): its claim marked the job, so the stored state is the
 * one the worker's message was made from.
 */
const patchedOf = (item: SettleItem): number | undefined =>
  item.lease.marked === true && item.records !== undefined && item.records.length === 1 ? patchOf(item.records[0]!) : undefined

/** the results target of a consumer's acknowledgements that carry records (one per connection) */
const targetOf = (group: ReadonlyArray<SettleItem>): ResultsTarget | undefined => {
  let target: ResultsTarget | undefined
  for (const item of group) {
    if (item.target === undefined) continue
    if (target !== undefined && item.target !== target) throw new Error("records for two results stores in one tick")
    target = item.target
  }
  return target
}

const failAll = (items: ReadonlyArray<Item>, cause: unknown) => {
  for (const item of items) item.waiter.fail(cause)
}

/**
 * Makes the tick of a connection, its loop forked in the current scope. When the scope closes,
 * items already queued are still sent; later ones fail with `closed()`.
 *
 * @internal
 */
export const make = (conn: Connection, closed: () => unknown): Effect.Effect<Tick, never, Scope.Scope> =>
  Effect.gen(function*() {
    const fuses = !conn.cluster
    let pending: Array<Item> = []
    let open = true

    /** the script calls of a tick's items */
    const build = (items: ReadonlyArray<Item>, now: number): Array<Call> => {
      const calls: Array<Call> = []
      const records: Array<RecordItem> = []
      const groups = new Map<Participant<any>, Array<SettleItem>>()
      for (const item of items) {
        if (item._tag === "record") {
          records.push(item)
        } else if (item._tag === "settle") {
          const group = groups.get(item.participant)
          if (group === undefined) groups.set(item.participant, [item])
          else group.push(item)
        }
      }

      // each consumer's target first: nothing below may throw once a consumer's claim has begun
      const targets = new Map<Participant<any>, ResultsTarget | undefined>()
      for (const [participant, group] of groups) targets.set(participant, targetOf(group))

      // On a standalone Redis, plain records ride on a consumer's call (one whose
      // acknowledgements carry records, else the first), up to `recordChunk` of them.
      let host: Participant<any> | undefined
      let riding: Array<RecordItem> = []
      let rest = records
      if (fuses && records.length > 0 && groups.size > 0) {
        const target = records[0]!.target
        for (const participant of groups.keys()) {
          const own = targets.get(participant)
          if (own === target) {
            host = participant
            break
          }
          if (own === undefined) host ??= participant
        }
        if (host !== undefined) {
          rest = []
          let count = 0
          for (const item of records) {
            if (item.target === target && count + item.records.length <= recordChunk) {
              riding.push(item)
              count += item.records.length
            } else {
              rest.push(item)
            }
          }
        }
      }

      for (const [participant, group] of groups) {
        const attached = participant === host ? riding : []
        const target = attached.length > 0 ? attached[0]!.target : targets.get(participant)
        const leases = group.map((item) => item.lease)
        const claim = participant.begin(now, leases)
        // once: a reply handler that throws is followed by \`fail\`
        let ended = false
        const end = (reply: ReadonlyArray<Reply> | undefined, from: number) => {
          if (ended) return
          ended = true
          participant.end(claim, leases, reply, from)
        }
        const args = claim.args
        if (target === undefined) {
          for (const item of group) args.push(item.lease.id, item.lease.attempt)
        } else {
          const patched = group.map(patchedOf)
          let size = 64 * group.length
          for (const item of attached) size += sizeOf(item.records)
          for (let i = 0; i < group.length; i++) {
            const records = group[i]!.records
            if (records !== undefined) size += patched[i] === undefined ? sizeOf(records) : 64 + (records[0]!.result?.length ?? 0)
            const following = group[i]!.following
            if (following !== undefined) size += followSize(following.follow)
          }
          // the entries of `settle` (see lua/settle.lua)
          const packed = packer(size)
          for (const item of attached) {
            for (const record of item.records) {
              packed.string("r")
              packRecord(packed, record)
            }
          }
          for (let i = 0; i < group.length; i++) {
            const item = group[i]!
            const processedAt = patched[i]
            if (processedAt !== undefined) {
              // a success that leaves the stored message as it is (see lua/includes/record.lua)
              const record = item.records![0]!
              packed.string("p")
              packed.string(item.lease.id)
              packed.string(item.lease.attempt)
              packed.string(String(Math.round(record.at)))
              packed.string(String(Math.round(processedAt)))
              packResult(packed, record.result)
            } else {
              packed.string("a")
              packed.string(item.lease.id)
              packed.string(item.lease.attempt)
              if (item.records === undefined) {
                packed.string("0")
              } else {
                packed.string(String(item.records.length))
                for (const record of item.records) packRecord(packed, record)
              }
            }
            if (item.following !== undefined) packFollow(packed, item.following.follow)
          }
          args.push(target.job, target.ttl, target.indexTtl, packed.done())
        }
        calls.push({
          script: target === undefined ? Scripts.ack : Scripts.settle,
          keys: target === undefined ? participant.claimKeys : [...participant.claimKeys, target.successful, target.failed],
          args,
          buffers: true,
          reply: (reply) => {
            const count = reply[0] as number
            end(reply, count + 1)
            let flag = 1
            for (const item of attached) {
              const applied = new Array<boolean>(item.records.length)
              for (let i = 0; i < applied.length; i++) applied[i] = reply[flag++] === 1
              item.waiter.done(applied)
            }
            for (const item of group) {
              const flagCount = target === undefined ? 1 : 1 + (item.records?.length ?? 0)
              const flags = reply.slice(flag, flag + flagCount) as Array<number>
              flag += flagCount
              if (target !== undefined && item.following !== undefined) item.following.told(reply[flag++] as number)
              item.waiter.done(flags)
            }
          },
          fail: (cause) => {
            end(undefined, -1)
            failAll(attached, cause)
            failAll(group, cause)
          }
        })
      }

      // the other records, in calls of up to `recordChunk` records (whole items)
      let chunk: Array<RecordItem> = []
      let size = 0
      const flushChunk = () => {
        if (chunk.length === 0) return
        const these = chunk
        const target = these[0]!.target
        let bytes = 64
        for (const item of these) bytes += sizeOf(item.records)
        const packed = packer(bytes)
        for (const item of these) for (const record of item.records) packRecord(packed, record)
        const args: Array<Arg> = [target.job, target.ttl, target.indexTtl, packed.done()]
        calls.push({
          script: Scripts.record,
          keys: [target.successful, target.failed],
          args,
          buffers: false,
          reply: (reply) => {
            let flag = 0
            for (const item of these) {
              const applied = new Array<boolean>(item.records.length)
              for (let i = 0; i < applied.length; i++) applied[i] = reply[flag++] === 1
              item.waiter.done(applied)
            }
          },
          fail: (cause) => failAll(these, cause)
        })
        chunk = []
        size = 0
      }
      for (const item of rest) {
        if (chunk.length > 0 && (size + item.records.length > recordChunk || item.target !== chunk[0]!.target)) flushChunk()
        chunk.push(item)
        size += item.records.length
      }
      flushChunk()
      return calls
    }

    /** the calls of the tick on its way that are not answered yet (1 from its take to its send) */
    let unanswered = 0
    /** the writes of `after`s waiting for the end of this turn, while no tick is on its way */
    let turn: Array<() => void> | undefined
    /** uncorks the socket that an `after` corked while no tick was on its way (see `after`) */
    let uncork: (() => void) | undefined
    const release = () => {
      const corked = uncork
      uncork = undefined
      corked?.()
    }

    /**
     * sends the calls of a tick, all in one socket write where it can, then runs `afters`; what
     * was written since an `after` corked the socket leaves in the same write
     */
    const send = (calls: ReadonlyArray<Call>, afters: ReadonlyArray<AfterItem>): Promise<void> => {
      let promises: Array<Promise<unknown>>
      try {
        promises = calls.length === 0 ? [] : conn.runAll(calls)
      } catch (cause) {
        for (const call of calls) call.fail(cause)
        promises = []
      }
      unanswered = promises.length
      try {
        for (const item of afters) item.waiter.done(undefined)
      } finally {
        release()
      }
      if (promises.length === 0) return Promise.resolve()
      // counted before the reply is handled: the fibers it resumes may queue an `after` at once
      return Promise.all(promises.map((promise, i) => {
        const call = calls[i]!
        return promise.then((reply) => {
          unanswered--
          try {
            call.reply(reply as ReadonlyArray<Reply>)
          } catch (cause) {
            call.fail(cause)
          }
        }, (cause) => {
          unanswered--
          call.fail(cause)
        })
      })).then(() => undefined)
    }

    /** sends up to `maxItems` queued items; resumes when every call has come back */
    const flush = (items: ReadonlyArray<Item>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.async<void>((resume) => {
          let calls: Array<Call>
          try {
            calls = build(items, now)
          } catch (cause) {
            unanswered = 0
            try {
              failAll(items, cause)
            } finally {
              release()
            }
            return resume(Effect.void)
          }
          const after = () => {
            for (const item of items) if (item._tag === "barrier") item.waiter.done(undefined)
            resume(Effect.void)
          }
          const afters: Array<AfterItem> = []
          for (const item of items) if (item._tag === "after") afters.push(item)
          send(calls, afters).then(after, after)
        }))

    const take = () => {
      if (pending.length <= maxItems) {
        const items = pending
        pending = []
        return items
      }
      const items = pending.slice(0, maxItems)
      pending = pending.slice(maxItems)
      return items
    }

    /** waits until there is something to send */
    const work = waiting(() => pending.length > 0)

    // Registered before the loop's fiber, so it runs after the fiber was interrupted (which
    // waits for a tick in flight): then the items left are sent.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        open = false
        const rest = pending
        pending = []
        const ticks: Array<ReadonlyArray<Item>> = []
        for (let i = 0; i < rest.length; i += maxItems) ticks.push(rest.slice(i, i + maxItems))
        return Effect.ensuring(Effect.forEach(ticks, flush, { discard: true }), Effect.sync(release))
      })
    )

    // After a wake-up, wait for the end of the current turn of the event loop: the fibers that
    // the last reply resumed (and those they fork) run in microtasks, and each queues its next
    // item before they are all done; then everything goes out together rather than in pieces.
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(restore(Effect.zipRight(work.wait, endOfTurn)), () => {
            unanswered = 1
            return flush(take())
          })
        )
      )
    )

    const push = (item: Item) => {
      if (!open) return item.waiter.fail(closed())
      pending.push(item)
      work.wake()
    }

    return {
      fuses,
      barrier: Effect.async<void>((resume) => {
        const waiter = { done: () => resume(Effect.void), fail: () => resume(Effect.void) }
        push({ _tag: "barrier", waiter })
      }),
      record: (records, target, waiter) => push({ _tag: "record", records, target, waiter }),
      after: (write) => {
        const item: AfterItem = { _tag: "after", waiter: { done: write, fail: write } }
        // No tick on its way: this one leaves at the end of the turn, and what the caller writes
        // meanwhile (an enqueue's queue write after its event) goes with it in one socket write.
        if (!open || unanswered > 0) return push(item)
        // joins the writes of this turn already waiting (their order kept)
        if (turn !== undefined) return void turn.push(write)
        if (uncork === undefined) uncork = conn.cork()
        if (uncork === undefined || pending.length > 0) return push(item)
        // nothing queued either: written at the end of the turn without waking the loop, unless
        // items were queued meanwhile (their tick's end of turn comes later): then after them
        const writes = turn = [write]
        setImmediate(() => {
          turn = undefined
          if (open && pending.length > 0) {
            for (const w of writes) push({ _tag: "after", waiter: { done: w, fail: w } })
            return
          }
          try {
            for (const w of writes) w()
          } finally {
            release()
          }
        })
      },
      settle: (participant, lease, records, target, waiter, following) => {
        if (records !== undefined && (!fuses || target === undefined)) {
          return waiter.fail(new Error("acknowledgements carry records only on a standalone Redis, with their results store"))
        }
        if (following !== undefined && records?.length !== 1) {
          return waiter.fail(new Error("what follows a settle goes with its one record"))
        }
        push({ _tag: "settle", participant, lease, records, target, waiter, following })
      }
    } satisfies Tick
  })
