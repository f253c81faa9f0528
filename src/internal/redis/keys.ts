/**
 * Key names of the Redis backend.
 *
 * Every key of one queue carries the hash tag `{prefix:queue}` so that, on Redis Cluster, a
 * queue lives in one slot and its Lua scripts may touch all of its keys. The results store
 * lives under the tag `{prefix}`. The prefix is escaped so that it holds no `:`, `{`, `}`; the
 * queue name so that it holds no `{`, `}`: the first `:` inside the braces separates the two,
 * and no two (prefix, queue) pairs share a tag.
 *
 * @internal
 */

const escapePrefix = (text: string) => text.replace(/[%{}:]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
const escapeQueue = (text: string) => text.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** @internal */
export interface QueueKeys {
  readonly tag: string
  /** list of ids, oldest first */
  readonly ready: string
  /** sorted set: id -> due time */
  readonly delayed: string
  /** sorted set: id -> due time of a retry (`nack` with a delay); entries past their time are stale */
  readonly retrying: string
  /** sorted set: id -> lease deadline */
  readonly leases: string
  /** list of wake-up tokens that idle consumers block on */
  readonly signal: string
  /** list of packed dead letters, oldest first */
  readonly dead: string
  /** set when a consumer opens; gone means Redis lost this queue's data */
  readonly marker: string
  /**
   * prefix of the per-message hashes: `body`, `attempt` (the fencing token: leases given),
   * `lost` (leases that ran out), `due` (time it became ready, or is due)
   */
  readonly job: string
}

/** @internal */
export const queueKeys = (prefix: string, queue: string): QueueKeys => {
  const tag = `{${escapePrefix(prefix)}:${escapeQueue(queue)}}`
  return {
    tag,
    ready: `${tag}:ready`,
    delayed: `${tag}:delayed`,
    retrying: `${tag}:retrying`,
    leases: `${tag}:leases`,
    signal: `${tag}:signal`,
    dead: `${tag}:dead`,
    marker: `${tag}:marker`,
    job: `${tag}:j:`
  }
}

/** the set of the queue names a prefix has seen (under the results store's tag) @internal */
export const queuesKey = (prefix: string): string => `{${escapePrefix(prefix)}}:queues`

/** @internal */
export interface ResultsKeys {
  readonly tag: string
  /** prefix of the per-job hashes: `message` (the encoded JobMessage), `status`, `at`, `result` */
  readonly job: string
  readonly successful: string
  readonly failed: string
  /** prefix of coordination values */
  readonly kv: string
  /** prefix of coordination sets */
  readonly set: string
  readonly marker: string
}

/** @internal */
export const resultsKeys = (prefix: string): ResultsKeys => {
  const tag = `{${escapePrefix(prefix)}}`
  return {
    tag,
    job: `${tag}:job:`,
    successful: `${tag}:successful`,
    failed: `${tag}:failed`,
    kv: `${tag}:kv:`,
    set: `${tag}:set:`,
    marker: `${tag}:marker`
  }
}
