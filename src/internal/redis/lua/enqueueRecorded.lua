--[[
  enqueueRecorded: an enqueue in one call, on a standalone Redis where the results store and
  the queue share the connection: the jobs' `queued` records (see includes/record: an enqueue's
  is refused when the job has a state, a new run's replaces a final one), then their messages
  put in the queue (see includes/put) when the record was applied or the job is still `queued`
  (an earlier enqueue that stopped between its two writes; a job running or finished is left
  alone, so an enqueue sent again never runs a job twice). With a guard (the workflow engine's,
  see guardedEnqueue.ts), first: `create` sets its key (with the ttl) unless it exists, `unless`
  checks that it does not exist; when it does (for `create`: with another value than this
  one, so that a re-send of the same enqueue goes on), nothing is written and the reply is -1.
  Last, the events it is given (the jobs' `Enqueued` events) are published, unless the guard
  stopped it: after the writes, so that a subscriber that reads the store on one finds the job.

  KEYS[1]   ready        list of ready ids, oldest first
  KEYS[2]   delayed      sorted set: id -> due time
  KEYS[3]   signal       wake-up tokens of idle consumers
  KEYS[4]   successful   sorted set: id -> at of the final record
  KEYS[5]   failed       sorted set: id -> at of the final record

  ARGV[1]   jobPrefix       prefix of the message hashes (jobPrefix .. id)
  ARGV[2]   now             ms
  ARGV[3]   signalCap       wake-up tokens kept at most
  ARGV[4]   resultsPrefix   prefix of the results store's job hashes
  ARGV[5]   ttl             ms, 0 for none: the job hashes' time to live
  ARGV[6]   guard           "", "create" or "unless"
  ARGV[7]   guardKey        the guard's key ("" without)
  ARGV[8]   guardValue      what `create` sets ("" otherwise)
  ARGV[9]   records         packed: 7 values per record (see includes/record)
  ARGV[10]  channel         where to publish the enqueue's events ("" for nowhere)
  ARGV[11]  events          what to publish there, after the writes (the `Enqueued` events)
  ARGV[12..] (body, due) per record, in the records' order; due <= now means ready now

  Returns 1 (applied) or 0 (refused) per record; -1 when the guard stopped the enqueue.
]]
--- @include "includes/coordination"
--- @include "includes/enqueued"

local readyKey = KEYS[1]
local delayedKey = KEYS[2]
local signalKey = KEYS[3]
local indexes = { KEYS[4], KEYS[5] }

local jobPrefix = ARGV[1]
local nowArg = ARGV[2]
local signalCap = tonumber(ARGV[3])
local resultsPrefix = ARGV[4]
local ttl = tonumber(ARGV[5])
local guard = ARGV[6]
local guardKey = ARGV[7]
local records = cmsgpack.unpack(ARGV[9])
local channel = ARGV[10]
local firstMessage = 12

if guard == 'create' then
  -- a re-send of this enqueue (the same value) goes on: its records are refused by id
  if not createValue(guardKey, ARGV[8], ttl) and redis.call('GET', guardKey) ~= ARGV[8] then return -1 end
elseif guard == 'unless' then
  if redis.call('EXISTS', guardKey) == 1 then return -1 end
end

local now = tonumber(nowArg)
local ready = {}
local added = 0
local out = {}
local latest = {}
local m = firstMessage
for i = 1, #records, 7 do
  local applied, queued = enqueueOne(resultsPrefix, ttl, records, i, indexes, latest, jobPrefix, delayedKey, ready, ARGV[m], ARGV[m + 1], now, nowArg)
  out[#out + 1] = applied
  added = added + queued
  m = m + 2
end
wake(readyKey, signalKey, signalCap, ready, added)
if channel ~= '' then redis.call('PUBLISH', channel, ARGV[11]) end
return out
