/**
 * The Lua scripts of the Redis backend: one per atomic operation, each in its own file under
 * `lua/` with a header naming its KEYS, ARGV and reply, shared parts under `lua/includes/`.
 * They are embedded in `lua/scripts.generated.ts` (`npm run lua`, see scripts/embed-lua.ts),
 * so that they ship in the compiled package and load without the repository's files; ioredis
 * defines each one on every client (`defineCommand`: EVALSHA, EVAL once when Redis lacks it).
 *
 * Conventions. `now` is always an argument (epoch milliseconds from Effect's `Clock`), never
 * Redis `TIME`. Per-message and per-job hashes are named from a key prefix passed as ARGV[1];
 * they carry the same hash tag as the declared keys, so on Redis Cluster every key a script
 * touches is in one slot. Every mutating script is safe to run twice (ioredis re-sends
 * unanswered commands after a reconnect): a second run finds the work done and changes
 * nothing, or reports it as done.
 *
 * Per-queue structures: `ready` (list of ids), `delayed` (zset id -> due time), `leases`
 * (zset id -> lease deadline), `signal` (wake-up tokens for idle consumers), `dead` (packed
 * dead letters) and one hash per message in the queue (`body`, `attempt`: the fencing token,
 * `lost`: leases that ran out, `due`: time it became ready or is due). A message is in the
 * queue exactly while its hash exists. The results store keeps one hash per job (`message`,
 * `status`, `at`, `result`, `attempt`, `processedAt`) and two indexes. On a standalone Redis
 * with the store on the broker's connection, a claim marks the jobs it leases `processing` in
 * their hashes (lua/includes/processing.lua).
 *
 * @internal
 */
import * as Lua from "./lua/scripts.generated.js"

/** @internal */
export interface Script {
  /** the ioredis command it is defined as */
  readonly name: string
  /** how many of its arguments are KEYS */
  readonly keys: number
  readonly lua: string
}

const script = (name: string, source: { readonly keys: number; readonly lua: string }): Script => ({
  name,
  keys: source.keys,
  lua: source.lua
})

/** adds messages, ready or delayed; skips ids in the queue */
export const enqueue = script("tasqueueEnqueue", Lua.enqueue)
/** records enqueues' states and adds the messages of those applied or still queued, in one call */
export const enqueueRecorded = script("tasqueueEnqueueRecorded", Lua.enqueueRecorded)
/** leases messages to a consumer (a re-sent call gets the same deliveries) */
export const claim = script("tasqueueClaim", Lua.claim)
/** acknowledges deliveries, then claims for the freed slots */
export const ack = script("tasqueueAck", Lua.ack)
/** puts a leased message back, ready or delayed */
export const nack = script("tasqueueNack", Lua.nack)
/** renews leases; checks the queue's marker */
export const extend = script("tasqueueExtend", Lua.extend)
/** moves a leased message to the dead letters */
export const deadLetter = script("tasqueueDeadLetter", Lua.deadLetter)
/** puts a closing consumer's unsettled deliveries back */
export const release = script("tasqueueRelease", Lua.release)
/** puts back the message of a held job that Redis lost */
export const restore = script("tasqueueRestore", Lua.restore)
/** removes a waiting message */
export const remove = script("tasqueueRemove", Lua.remove)
/** lists the waiting messages (read-only) */
export const pending = script("tasqueuePending", Lua.pending)
/** sets a marker key unless it exists */
export const marker = script("tasqueueMarker", Lua.marker)
/** applies records of job states (first final record wins) */
export const record = script("tasqueueRecord", Lua.record)
/** one consumer's part of a tick: records, acknowledgements with their records, and a claim */
export const settle = script("tasqueueSettle", Lua.settle)
/** saves a job's result */
export const setResult = script("tasqueueSetResult", Lua.setResult)
/** forgets a job of the results store */
export const deleteJob = script("tasqueueDeleteJob", Lua.deleteJob)
/** one field of many job hashes (read-only) */
export const fields = script("tasqueueFields", Lua.fields)
/** adds a member to a coordination set */
export const add = script("tasqueueAdd", Lua.add)
/** a queue's sizes by state (read-only) */
export const counts = script("tasqueueCounts", Lua.counts)
/** a page of a queue's messages in one state (read-only) */
export const list = script("tasqueueList", Lua.list)
/** requeues or purges dead letters */
export const dead = script("tasqueueDead", Lua.dead)

/** @internal */
export const all: ReadonlyArray<Script> = [
  enqueue,
  enqueueRecorded,
  claim,
  ack,
  nack,
  extend,
  deadLetter,
  release,
  restore,
  remove,
  pending,
  marker,
  record,
  settle,
  setResult,
  deleteJob,
  fields,
  add,
  counts,
  list,
  dead
]
