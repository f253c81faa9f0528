--[[
  The `processing` state a claim gives a job in its record of the results store, when the store
  is on the same Redis (standalone: on a Cluster the results are in another slot, and the
  worker records `processing` itself).

  markProcessing(resultsPrefix, id, attempt, nowArg): marks the job `processing` as the claim of
  `attempt` leases it: sets `attempt` (the fence: a record of an older attempt is refused from
  now on) and `processedAt` (now, as sent); `message` keeps the state before, and the store
  reads the job as that state with status `processing` and this `processedAt` while the field
  is there (results.ts). The next record of the job replaces `message` and drops `processedAt`
  (includes/record), or, a success written as a patch, keeps both and sets `processedAt` to the
  attempt's start. Only a record that exists, is not final, is not a `processing` state recorded by
  an attempt before (its progress would stand for this attempt's state: a success written as a
  patch of it, see includes/record, would carry it) and holds no newer attempt is marked: gives
  1 (marked), else 0 (then the worker records `processing` itself; a final record refuses it,
  and the job is not run again). `resultsPrefix` '' marks nothing.

  unmarkProcessing(resultsPrefix, id, attempt): undoes the mark of `attempt` if nothing was
  recorded since (a released delivery that was never run goes back to its state before).
]]
--- @include "final"

local function markProcessing(resultsPrefix, id, attempt, nowArg)
  if resultsPrefix == '' then return 0 end
  local jobKey = resultsPrefix .. id
  local current = redis.call('HMGET', jobKey, 'status', 'attempt')
  -- `processing` as a state of its own: recorded by an attempt before (which lapsed or went back
  -- with its progress), not this attempt's state: its worker records that itself
  if not current[1] or final[current[1]] or current[1] == 'processing' then return 0 end
  if current[2] and tonumber(current[2]) > attempt then return 0 end
  redis.call('HSET', jobKey, 'attempt', attempt, 'processedAt', nowArg)
  return 1
end

local function unmarkProcessing(resultsPrefix, id, attempt)
  if resultsPrefix == '' then return end
  local jobKey = resultsPrefix .. id
  local current = redis.call('HMGET', jobKey, 'attempt', 'processedAt', 'status')
  -- a final status with `processedAt` is a success's patch (includes/record), not a mark
  if current[1] == attempt and current[2] and not final[current[3]] then redis.call('HDEL', jobKey, 'processedAt') end
end
