--[[
  settle: acknowledgements with the records that go with them, the records of other jobs, and
  the claim that rides on them, in one call: what one tick of a connection sends for one
  consumer on a standalone Redis (on a Cluster the results are in another slot, and `ack` and
  `record` go separately). Run again with the same reply key, it returns the same reply.

  KEYS[1]   ready        list of ready ids, oldest first
  KEYS[2]   delayed      sorted set: id -> due time
  KEYS[3]   leases       sorted set: id -> lease deadline
  KEYS[4]   signal       wake-up tokens of idle consumers
  KEYS[5]   dead         list of packed dead letters
  KEYS[6]   successful   sorted set: id -> at of the final record
  KEYS[7]   failed       sorted set: id -> at of the final record

  ARGV[1]   jobPrefix           prefix of the message hashes (jobPrefix .. id)
  ARGV[2]   now                 ms
  ARGV[3]   leaseDeadline       ms: now + visibility timeout
  ARGV[4]   count               how many to claim
  ARGV[5]   maxLost             lost leases after which a message goes to the dead letters
  ARGV[6]   signalCap           wake-up tokens kept at most
  ARGV[7]   visibilityTimeout   ms
  ARGV[8]   resultsPrefix       prefix of the results store's job hashes, whose jobs the claim
                                marks `processing` (see includes/processing); '' for none
  ARGV[9]   replyKey            where this call leaves its reply ('' for none)
  ARGV[10]  forgetCount         how many reply keys follow
  ARGV[11..10 + forgetCount]    reply keys of earlier calls whose replies arrived: deleted
  ARGV[11 + forgetCount]        resultsPrefix: prefix of the job hashes of the results
  ARGV[12 + forgetCount]        ttl: ms, 0 for none
  ARGV[13 + forgetCount]        indexTtl: ms, 0 for none
  ARGV[14 + forgetCount]        entries, packed, in order:
    'r', then one record (id, status, message, at, has result, result, attempt): recorded
    'a', id, attempt, k, then k records: if the lease holds, the records are applied (first
         final wins: a refused record does not stop the acknowledgement) and the message is
         removed; if it does not, nothing is written
    'p', id, attempt, at, processedAt, has result, result: as 'a' with one `successful`
         record, written as a patch of the job's stored state (includes/record: patchSuccess)
    'w', then what follows the success of the 'a' or 'p' entry before it in its workflow (the
         workflow engine's step, see finalStep.ts), done only when that entry acknowledged
         and its one record was applied:
         'e', set, member, size, end, value: `member` added to the group's set of finished
              members (no set: ''); once it holds `size` members (or without a set), the
              workflow's end `end` is created with `value` (first end wins)
         'n', guard, k, then k records (7 values each) and k (body, due): unless `guard` (the
              workflow's end) exists, the next step's jobs enqueued in this queue, as
              enqueueRecorded does (includes/enqueued)

  Then claims up to `count` messages, as `ack` does. Returns { flag count, flags..., then what
  `claim` returns when count > 0 }: per 'r' entry 1 or 0; per 'a' entry 1 (acknowledged) or 0
  (lease lost), then 1 or 0 per record; per 'p' entry the same, with one record; per 'w'
  entry 1 (its end created, or its next step enqueued), 0 (not done: the entry before it did not
  apply, or the group is not complete) or -1 (the workflow had ended).
]]
--- @include "includes/lease"
--- @include "includes/replies"
--- @include "includes/record"
--- @include "includes/enqueued"
--- @include "includes/coordination"

local queue = { ready = KEYS[1], delayed = KEYS[2], leases = KEYS[3], signal = KEYS[4], dead = KEYS[5] }
local indexes = { KEYS[6], KEYS[7] }

local request = {
  jobPrefix = ARGV[1],
  nowArg = ARGV[2],
  leaseDeadline = ARGV[3],
  count = tonumber(ARGV[4]),
  maxLost = tonumber(ARGV[5]),
  signalCap = tonumber(ARGV[6]),
  visibilityTimeout = ARGV[7],
  resultsPrefix = ARGV[8]
}
local replyKey = ARGV[9]
local forgetCount = tonumber(ARGV[10])
local firstForget = 11
local resultsPrefix = ARGV[11 + forgetCount]
local ttl = tonumber(ARGV[12 + forgetCount])
local indexTtl = tonumber(ARGV[13 + forgetCount])
local packedEntries = ARGV[14 + forgetCount]

local now = tonumber(request.nowArg)
forgetReplies(ARGV, firstForget, forgetCount)
local previous = recallReply(replyKey)
if previous then return replayedReply(queue, request, previous) end
local entries = cmsgpack.unpack(packedEntries)
local latest = {}
local flags = {}
-- whether the last 'a' or 'p' entry acknowledged and applied its one record
local settled = false

-- a 'w' entry at i: what follows the success settled before it; gives its flag and the next entry's index
local function follow(i)
  if entries[i + 1] == 'e' then
    if not settled then return 0, i + 7 end
    local setKey, size = entries[i + 2], tonumber(entries[i + 4])
    if setKey ~= '' and addMember(setKey, entries[i + 3], ttl) < size then return 0, i + 7 end
    return createValue(entries[i + 5], entries[i + 6], ttl) and 1 or -1, i + 7
  end
  local k = tonumber(entries[i + 3])
  local first = i + 4
  local after = first + 9 * k
  if not settled then return 0, after end
  if redis.call('EXISTS', entries[i + 2]) == 1 then return -1, after end
  local ready = {}
  local added = 0
  for j = 0, k - 1 do
    local m = first + 7 * k + 2 * j
    local _, queued = enqueueOne(resultsPrefix, ttl, entries, first + 7 * j, indexes, latest, request.jobPrefix,
      queue.delayed, ready, entries[m], entries[m + 1], now, request.nowArg)
    added = added + queued
  end
  wake(queue.ready, queue.signal, request.signalCap, ready, added)
  return 1, after
end

local i = 1
while i <= #entries do
  if entries[i] == 'w' then
    local flag
    flag, i = follow(i)
    flags[#flags + 1] = flag
    settled = false
  elseif entries[i] == 'r' then
    flags[#flags + 1] = recordOne(resultsPrefix, ttl, entries, i + 1, indexes, latest)
    i = i + 8
  elseif entries[i] == 'p' then
    local id, attempt = entries[i + 1], entries[i + 2]
    local acked = acknowledge(queue.leases, request.jobPrefix .. id, id, attempt, now)
    flags[#flags + 1] = acked
    flags[#flags + 1] = acked == 1
      and patchSuccess(resultsPrefix, ttl, id, entries[i + 3], entries[i + 4], entries[i + 5], entries[i + 6], attempt, indexes, latest)
      or 0
    settled = flags[#flags] == 1
    i = i + 7
  else
    local id, attempt, recordCount = entries[i + 1], entries[i + 2], tonumber(entries[i + 3])
    local acked = acknowledge(queue.leases, request.jobPrefix .. id, id, attempt, now)
    flags[#flags + 1] = acked
    i = i + 4
    for _ = 1, recordCount do
      flags[#flags + 1] = acked == 1 and recordOne(resultsPrefix, ttl, entries, i, indexes, latest) or 0
      i = i + 7
    end
    settled = recordCount == 1 and flags[#flags] == 1
  end
end
trimIndexes(indexes, latest, indexTtl)
return settledReply(queue, request, flags, replyKey)
