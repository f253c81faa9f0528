/**
 * The Lua scripts of the Redis backend: one per atomic operation, each with its key count.
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
 * dead letters) and one hash per message in the queue (b body, a attempt, x lost leases, t
 * time it became ready or is due). A message is in the queue exactly while its hash exists.
 *
 * @internal
 */

/** @internal */
export interface Script {
  readonly name: string
  readonly keys: number
  readonly lua: string
}

const script = (name: string, keys: number, lua: string): Script => ({ name, keys, lua })

/**
 * Tops the signal list up to min(ready length, cap) tokens, or clears it when nothing is
 * ready. Idle consumers block on it (BLPOP); a stale token costs one look at the queue.
 */
const signalLua = `
local function signal(readyKey, signalKey, cap)
  local ready = redis.call('LLEN', readyKey)
  if ready == 0 then
    redis.call('DEL', signalKey)
    return
  end
  local want = math.min(ready, cap) - redis.call('LLEN', signalKey)
  if want > 0 then
    local tokens = {}
    for i = 1, want do tokens[i] = '1' end
    redis.call('LPUSH', signalKey, unpack(tokens))
  end
end
`

/**
 * Wakes one idle consumer, if none is woken already, so that it reads the queue's earliest
 * due time again: a delayed message was added that may be due before the one it waits for.
 */
const nudgeLua = `
local function nudge(signalKey)
  if redis.call('LLEN', signalKey) == 0 then redis.call('LPUSH', signalKey, '1') end
end
`

/** a dead letter as one string: "<at>:<id length>:<reason length>:" id reason body */
const deadLua = `
local function dead(at, id, reason, body)
  return tostring(at) .. ':' .. #id .. ':' .. #reason .. ':' .. id .. reason .. body
end
`

/**
 * The lease of (id, attempt) holds: the message is leased, under that attempt, and its
 * deadline has not passed.
 */
const holdsLua = `
local function holds(leasesKey, jobKey, id, attempt, now)
  local deadline = redis.call('ZSCORE', leasesKey, id)
  if not deadline or tonumber(deadline) <= now then return false end
  return redis.call('HGET', jobKey, 'a') == attempt
end

-- removes the message of (id, attempt) if its lease holds; gives 1, else 0
local function acknowledge(leasesKey, jobKey, id, attempt, now)
  if not holds(leasesKey, jobKey, id, attempt, now) then return 0 end
  redis.call('ZREM', leasesKey, id)
  redis.call('DEL', jobKey)
  return 1
end
`

/**
 * KEYS: ready, delayed, signal. ARGV: job prefix, now, signal cap, then (id, body, due) per
 * message; due <= now means ready now. A message whose id is in the queue is skipped.
 * Returns how many were added.
 */
export const enqueue = script(
  "tasqueueEnqueue",
  3,
  signalLua + nudgeLua + `
local jp = ARGV[1]
local now = tonumber(ARGV[2])
local ready = {}
local added = 0
for i = 4, #ARGV, 3 do
  local id = ARGV[i]
  local k = jp .. id
  if redis.call('EXISTS', k) == 0 then
    local due = tonumber(ARGV[i + 2])
    added = added + 1
    if due > now then
      redis.call('HSET', k, 'b', ARGV[i + 1], 't', ARGV[i + 2])
      redis.call('ZADD', KEYS[2], due, id)
    else
      redis.call('HSET', k, 'b', ARGV[i + 1], 't', ARGV[2])
      ready[#ready + 1] = id
    end
  end
end
if #ready > 0 then
  redis.call('RPUSH', KEYS[1], unpack(ready))
  signal(KEYS[1], KEYS[3], tonumber(ARGV[3]))
elseif added > 0 then
  nudge(KEYS[3])
end
return added
`
)

/**
 * The claim, shared by the claim and ack scripts. KEYS: ready, delayed, leases, signal, dead.
 * Arguments: job prefix, now, lease deadline, how many to claim, max lost leases, signal cap,
 * visibility timeout (ms, for the dead-letter reason), and `out`, the table to append to.
 *
 * Moves due delayed messages to ready and expired leases back to ready (or to the dead
 * letters once they were lost more than max times), then leases up to n ready messages.
 * Appends { next, id1, attempt1, body1, ... } where next is the earliest due time or lease
 * deadline left (-1 for none), so that an idle consumer knows when to look again.
 */
const claimLua = signalLua + deadLua + `
local function nextDeadline()
  local next = -1
  local d = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if #d > 0 then next = tonumber(d[2]) end
  local l = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  if #l > 0 and (next == -1 or tonumber(l[2]) < next) then next = tonumber(l[2]) end
  return next
end

local function claim(jp, nowArg, deadline, n, maxLost, cap, vt, out, leasedPairs)
  local now = tonumber(nowArg)
  local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
  if #due > 0 then
    local ids = {}
    for i = 1, #due, 2 do
      ids[#ids + 1] = due[i]
      redis.call('HSET', jp .. due[i], 't', due[i + 1])
    end
    redis.call('ZREM', KEYS[2], unpack(ids))
    redis.call('RPUSH', KEYS[1], unpack(ids))
  end

  local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
  if #expired > 0 then
    redis.call('ZREM', KEYS[3], unpack(expired))
    for _, id in ipairs(expired) do
      local k = jp .. id
      local body = redis.call('HGET', k, 'b')
      if body then
        local lost = redis.call('HINCRBY', k, 'x', 1)
        if lost > maxLost then
          redis.call('RPUSH', KEYS[5], dead(now, id, 'lease lost ' .. lost .. ' times (visibility timeout ' .. vt .. ' ms)', body))
          redis.call('DEL', k)
        else
          redis.call('HSET', k, 't', nowArg)
          redis.call('RPUSH', KEYS[1], id)
        end
      end
    end
  end

  local first = #out + 1
  out[first] = -1
  local claimed = 0
  if n > 0 then
    local ids = redis.call('LPOP', KEYS[1], n)
    if ids then
      local leases = {}
      for _, id in ipairs(ids) do
        local k = jp .. id
        local body = redis.call('HGET', k, 'b')
        if body then
          local attempt = redis.call('HINCRBY', k, 'a', 1)
          out[#out + 1] = id
          out[#out + 1] = attempt
          out[#out + 1] = body
          leasedPairs[#leasedPairs + 1] = id
          leasedPairs[#leasedPairs + 1] = attempt
          leases[#leases + 1] = deadline
          leases[#leases + 1] = id
          claimed = claimed + 1
        end
      end
      if #leases > 0 then redis.call('ZADD', KEYS[3], unpack(leases)) end
    end
  end

  signal(KEYS[1], KEYS[4], cap)

  if claimed < n then out[first] = nextDeadline() end
  return out
end

-- A call re-sent after a reconnect finds the reply of its first run under its reply key, and
-- gets the same deliveries (those still leased under the same attempt) instead of new ones.
local function replayClaim(jp, leasedPairs, out)
  local first = #out + 1
  out[first] = -1
  for i = 1, #leasedPairs, 2 do
    local id = leasedPairs[i]
    local k = jp .. id
    if redis.call('ZSCORE', KEYS[3], id) and redis.call('HGET', k, 'a') == tostring(leasedPairs[i + 1]) then
      out[#out + 1] = id
      out[#out + 1] = leasedPairs[i + 1]
      out[#out + 1] = redis.call('HGET', k, 'b')
    end
  end
  out[first] = nextDeadline()
  return out
end

-- ARGV[8] is this call's reply key (empty: none); ARGV[9] says how many keys follow: reply
-- keys of earlier calls whose replies arrived, deleted now. Returns the index of the next ARGV.
local function forget()
  local m = tonumber(ARGV[9])
  if m > 0 then redis.call('DEL', unpack(ARGV, 10, 9 + m)) end
  return 10 + m
end

local function remember(value, ttl)
  if ARGV[8] ~= '' then redis.call('SET', ARGV[8], cmsgpack.pack(value), 'PX', ttl) end
end

local function recall()
  if ARGV[8] == '' then return nil end
  local v = redis.call('GET', ARGV[8])
  if v then return cmsgpack.unpack(v) end
  return nil
end

-- The reply of a call that settles deliveries: { count, flags..., then what \`claim\` returns
-- when n > 0 }, remembered under the call's reply key. \`replyOf\` claims; \`replayed\` gives
-- the first run's reply again (the same flags, the same deliveries).
local function replyOf(jp, n, flags)
  local out = { #flags }
  for _, flag in ipairs(flags) do out[#out + 1] = flag end
  local leasedPairs = {}
  if n > 0 then claim(jp, ARGV[2], ARGV[3], n, tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], out, leasedPairs) end
  remember({ flags = flags, claimed = leasedPairs }, ARGV[7])
  return out
end

-- what a call that settles deliveries starts with: job prefix, now, how many to claim, the
-- index of its own arguments, and its first run's reply if it is a re-send
local function settling()
  local from = forget()
  return ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4]), from, recall()
end

local function replayed(jp, n, previous)
  local out = { #previous.flags }
  for _, flag in ipairs(previous.flags) do out[#out + 1] = flag end
  if n > 0 then replayClaim(jp, previous.claimed, out) end
  return out
end
`

/**
 * KEYS: ready, delayed, leases, signal, dead. ARGV: job prefix, now, lease deadline, how many
 * to claim, max lost leases, signal cap, visibility timeout (ms), reply key, m, m old reply
 * keys. See `claimLua`. Returns { next, id1, attempt1, body1, ... }; run again with the same
 * reply key, it returns the same deliveries.
 */
export const claim = script(
  "tasqueueClaim",
  5,
  claimLua + `
forget()
local previous = recall()
if previous then return replayClaim(ARGV[1], previous, {}) end
local leasedPairs = {}
local out = claim(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], {}, leasedPairs)
if #leasedPairs > 0 then remember(leasedPairs, ARGV[7]) end
return out
`
)

/**
 * KEYS: ready, delayed, leases, signal, dead. ARGV: as `claim`, then (id, attempt) per
 * delivery. Removes each message whose lease holds, then claims up to n messages for the
 * slots this frees (n is 0 when nobody waits for them: a worker that finishes a job gets its
 * next one in the same round trip). Returns { count, 1 or 0 per delivery, then what `claim`
 * returns when n > 0 }; run again with the same reply key, it returns the same reply.
 */
export const ack = script(
  "tasqueueAck",
  5,
  claimLua + holdsLua + `
local jp, now, n, from, previous = settling()
if previous then return replayed(jp, n, previous) end
local flags = {}
for i = from, #ARGV, 2 do
  local id = ARGV[i]
  flags[#flags + 1] = acknowledge(KEYS[3], jp .. id, id, ARGV[i + 1], now)
end
return replyOf(jp, n, flags)
`
)

/**
 * KEYS: ready, delayed, leases, signal. ARGV: job prefix, now, signal cap, id, attempt,
 * delay (ms), has body ("1"/"0"), body. Puts a leased message back: ready now, or delayed;
 * with a new body. Returns 1, or 0 when the lease does not hold.
 */
export const nack = script(
  "tasqueueNack",
  4,
  signalLua + nudgeLua + holdsLua + `
local jp = ARGV[1]
local now = tonumber(ARGV[2])
local id = ARGV[4]
local k = jp .. id
if not holds(KEYS[3], k, id, ARGV[5], now) then return 0 end
redis.call('ZREM', KEYS[3], id)
if ARGV[7] == '1' then redis.call('HSET', k, 'b', ARGV[8]) end
local delay = tonumber(ARGV[6])
if delay > 0 then
  redis.call('HSET', k, 't', now + delay)
  redis.call('ZADD', KEYS[2], now + delay, id)
  nudge(KEYS[4])
else
  redis.call('HSET', k, 't', ARGV[2])
  redis.call('RPUSH', KEYS[1], id)
  signal(KEYS[1], KEYS[4], tonumber(ARGV[3]))
end
return 1
`
)

/**
 * KEYS: leases, marker. ARGV: job prefix, now, new deadline, then (id, attempt) per delivery.
 * Renews each lease that holds. Returns { marker, r1, r2, ... }: marker is 0 when the queue's
 * marker key was missing (Redis lost its data; the marker is set again), and ri is 1 or 0.
 */
export const extend = script(
  "tasqueueExtend",
  2,
  holdsLua + `
local jp = ARGV[1]
local now = tonumber(ARGV[2])
local out = { 1 }
if redis.call('SET', KEYS[2], ARGV[2], 'NX') then out[1] = 0 end
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  if holds(KEYS[1], jp .. id, id, ARGV[i + 1], now) then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[3], id)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`
)

/**
 * KEYS: leases, dead. ARGV: job prefix, now, id, attempt, reason. Moves a leased message to
 * the dead letters. Returns 1, or 0 when the lease does not hold.
 */
export const deadLetter = script(
  "tasqueueDeadLetter",
  2,
  holdsLua + deadLua + `
local jp = ARGV[1]
local now = tonumber(ARGV[2])
local id = ARGV[3]
local k = jp .. id
if not holds(KEYS[1], k, id, ARGV[4], now) then return 0 end
redis.call('ZREM', KEYS[1], id)
redis.call('RPUSH', KEYS[2], dead(now, id, ARGV[5], redis.call('HGET', k, 'b')))
redis.call('DEL', k)
return 1
`
)

/**
 * KEYS: ready, leases, signal. ARGV: job prefix, now, signal cap, m, m reply keys to delete
 * (see `claim`), then (id, attempt) per delivery. Puts back, ready at once, each leased
 * message whose lease is still this delivery's (a closing consumer's unsettled deliveries).
 * Returns how many.
 */
export const release = script(
  "tasqueueRelease",
  3,
  signalLua + `
local jp = ARGV[1]
local released = 0
local m = tonumber(ARGV[4])
if m > 0 then redis.call('DEL', unpack(ARGV, 5, 4 + m)) end
for i = 5 + m, #ARGV, 2 do
  local id = ARGV[i]
  local k = jp .. id
  if redis.call('HGET', k, 'a') == ARGV[i + 1] and redis.call('ZREM', KEYS[2], id) == 1 then
    redis.call('HSET', k, 't', ARGV[2])
    redis.call('RPUSH', KEYS[1], id)
    released = released + 1
  end
end
if released > 0 then signal(KEYS[1], KEYS[3], tonumber(ARGV[3])) end
return released
`
)

/**
 * KEYS: ready, delayed. ARGV: job prefix, id. Removes a waiting (ready or delayed) message.
 * Returns 1, or 0 when it is not waiting.
 */
export const remove = script(
  "tasqueueRemove",
  2,
  `
local k = ARGV[1] .. ARGV[2]
if redis.call('EXISTS', k) == 0 then return 0 end
if redis.call('ZREM', KEYS[2], ARGV[2]) == 1 or redis.call('LREM', KEYS[1], 1, ARGV[2]) == 1 then
  redis.call('DEL', k)
  return 1
end
return 0
`
)

/**
 * KEYS: ready, delayed. ARGV: job prefix. Read-only. Returns { ready count, then (id, time,
 * body) per message: ready ones in order, then delayed ones by due time }.
 */
export const pending = script(
  "tasqueuePending",
  2,
  `
local jp = ARGV[1]
local out = { 0 }
local ready = redis.call('LRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ready) do
  local h = redis.call('HMGET', jp .. id, 't', 'b')
  if h[2] then
    out[#out + 1] = id
    out[#out + 1] = tonumber(h[1])
    out[#out + 1] = h[2]
    out[1] = out[1] + 1
  end
end
local delayed = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #delayed, 2 do
  local b = redis.call('HGET', jp .. delayed[i], 'b')
  if b then
    out[#out + 1] = delayed[i]
    out[#out + 1] = tonumber(delayed[i + 1])
    out[#out + 1] = b
  end
end
return out
`
)

/** KEYS: marker. ARGV: value. Sets the marker unless it exists. Returns 1 when it existed. */
export const marker = script(
  "tasqueueMarker",
  1,
  `
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
return 1
`
)

// ---------------------------------------------------------------------------------------------
// results
// ---------------------------------------------------------------------------------------------

/**
 * One record, shared by the record and settle scripts. `recordOne` applies the record at
 * t[i .. i + 5] (id, status, message, at, has result "1"/"0", result) to the job hash under
 * the results prefix `rp`, with the first-final-wins rule: a record of a job whose status is
 * final is refused unless it is `queued` (a new run: the job leaves the indexes and its result
 * is dropped). A record equal to the stored final one (status, at and message) is reported
 * applied without change: it is the same record sent again after a reconnect. `indexes` are the
 * successful and failed index keys; `latest` collects the newest `at` added to each, for
 * `trimIndexes`. Returns 1 (applied) or 0 (refused).
 *
 * Records travel packed: one argument holding a MessagePack array of strings (see `pack.ts`),
 * read with `cmsgpack.unpack`.
 */
const recordLua = `
local final = { successful = true, failed = true, cancelled = true }
local function recordOne(rp, ttl, t, i, indexes, latest)
  local id, status, message, at = t[i], t[i + 1], t[i + 2], t[i + 3]
  local k = rp .. id
  local current = redis.call('HMGET', k, 's', 'a')
  if current[1] and final[current[1]] then
    if status == 'queued' then
      redis.call('ZREM', indexes[1], id)
      redis.call('ZREM', indexes[2], id)
      redis.call('HDEL', k, 'r')
    elseif current[1] == status and current[2] == at and redis.call('HGET', k, 'm') == message then
      return 1
    else
      return 0
    end
  end
  if t[i + 4] == '1' then
    redis.call('HSET', k, 'm', message, 's', status, 'a', at, 'r', t[i + 5])
  else
    redis.call('HSET', k, 'm', message, 's', status, 'a', at)
  end
  if ttl > 0 then redis.call('PEXPIRE', k, ttl) end
  local index = nil
  if status == 'successful' then index = 1 elseif status == 'failed' then index = 2 end
  if index then
    redis.call('ZADD', indexes[index], at, id)
    local time = tonumber(at)
    if not latest[index] or time > latest[index] then latest[index] = time end
  end
  return 1
end

local function trimIndexes(indexes, latest, indexTtl)
  if indexTtl > 0 then
    for index, time in pairs(latest) do
      redis.call('ZREMRANGEBYSCORE', indexes[index], '-inf', '(' .. (time - indexTtl))
      redis.call('PEXPIRE', indexes[index], indexTtl)
    end
  end
end
`

/**
 * KEYS: successful index, failed index. ARGV: job prefix, ttl (ms, 0 for none), index ttl
 * (ms, 0 for none), then the records packed: (id, status, message, at, has result, result)
 * per record.
 *
 * Applies the records in order, with the first-final-wins rule (see `recordLua`); trims the
 * indexes by the index ttl. Returns 1 or 0 per record.
 */
export const record = script(
  "tasqueueRecord",
  2,
  recordLua + `
local indexes = { KEYS[1], KEYS[2] }
local ttl = tonumber(ARGV[2])
local t = cmsgpack.unpack(ARGV[4])
local latest = {}
local out = {}
for i = 1, #t, 6 do
  out[#out + 1] = recordOne(ARGV[1], ttl, t, i, indexes, latest)
end
trimIndexes(indexes, latest, tonumber(ARGV[3]))
return out
`
)

/**
 * Acknowledgements with the records that go with them, the records of other jobs, and the
 * claim that rides on them, in one call: what one tick of a connection sends for one consumer
 * on a standalone Redis (on a Cluster the results are in another slot, and `ack` and `record`
 * go separately).
 *
 * KEYS: ready, delayed, leases, signal, dead, successful index, failed index. ARGV: as `claim`
 * (up to the reply keys to forget), then the results' job prefix, ttl, index ttl, then the
 * entries packed, in order:
 * - `r` and one record (id, status, message, at, has result, result): recorded
 * - `a`, id, attempt, k, then k records: if the lease holds, the records are applied (first
 *   final wins: a refused record does not stop the acknowledgement) and the message is
 *   removed; if it does not, nothing is written
 *
 * Then claims up to n messages, as `ack` does. Returns { count, flags..., then what `claim`
 * returns when n > 0 }: per `r` entry 1 or 0; per `a` entry 1 (acknowledged) or 0 (lease lost),
 * then 1 or 0 per record. Run again with the same reply key, it returns the same reply.
 */
export const settle = script(
  "tasqueueSettle",
  7,
  claimLua + holdsLua + recordLua + `
local jp, now, n, from, previous = settling()
if previous then return replayed(jp, n, previous) end
local rp = ARGV[from]
local ttl = tonumber(ARGV[from + 1])
local t = cmsgpack.unpack(ARGV[from + 3])
local indexes = { KEYS[6], KEYS[7] }
local latest = {}
local flags = {}
local i = 1
while i <= #t do
  if t[i] == 'r' then
    flags[#flags + 1] = recordOne(rp, ttl, t, i + 1, indexes, latest)
    i = i + 7
  else
    local id = t[i + 1]
    local records = tonumber(t[i + 3])
    local acked = acknowledge(KEYS[3], jp .. id, id, t[i + 2], now)
    flags[#flags + 1] = acked
    i = i + 4
    for _ = 1, records do
      flags[#flags + 1] = acked == 1 and recordOne(rp, ttl, t, i, indexes, latest) or 0
      i = i + 6
    end
  end
end
trimIndexes(indexes, latest, tonumber(ARGV[from + 2]))
return replyOf(jp, n, flags)
`
)

/** KEYS: job. ARGV: ttl (ms, 0 for none), result. Saves a job's result. */
export const setResult = script(
  "tasqueueSetResult",
  1,
  `
redis.call('HSET', KEYS[1], 'r', ARGV[2])
if tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
`
)

/** KEYS: successful index, failed index, job. Forgets a job. */
export const deleteJob = script(
  "tasqueueDeleteJob",
  3,
  `
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`
)

/**
 * KEYS: any key of the results tag (routes the call on Redis Cluster). ARGV: job prefix,
 * field, ids... Read-only. Returns the field of each job.
 */
export const fields = script(
  "tasqueueFields",
  1,
  `
local out = {}
for i = 3, #ARGV do
  out[i - 2] = redis.call('HGET', ARGV[1] .. ARGV[i], ARGV[2])
end
return out
`
)

/**
 * KEYS: set. ARGV: ttl (ms, 0 for none), member. Adds the member and returns the set's size;
 * the ttl is set when the set is created.
 */
export const add = script(
  "tasqueueAdd",
  1,
  `
local added = redis.call('SADD', KEYS[1], ARGV[2])
local size = redis.call('SCARD', KEYS[1])
if added == 1 and size == 1 and tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return size
`
)

/** @internal */
export const all: ReadonlyArray<Script> = [
  enqueue,
  claim,
  ack,
  nack,
  extend,
  deadLetter,
  release,
  remove,
  pending,
  marker,
  record,
  settle,
  setResult,
  deleteJob,
  fields,
  add
]
