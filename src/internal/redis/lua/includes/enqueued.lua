--[[
  One job of an enqueue that records its state, shared by the enqueueRecorded and settle scripts.

  enqueueOne(resultsPrefix, ttl, records, i, indexes, latest, jobPrefix, delayedKey, ready, body,
  dueArg, now, nowArg): applies the job's `queued` record at records[i .. i + 6] (see record:
  recordOne), then puts its message in the queue (see put) when the record was applied or the
  job is still `queued` (an earlier enqueue stopped between its two writes; a job running or
  finished is left alone, so an enqueue sent again never runs a job twice). Gives the record's
  flag (1 or 0) and 1 when the message was put, else 0; `wake` then tops up the signal.
]]
--- @include "put"
--- @include "record"

local function enqueueOne(resultsPrefix, ttl, records, i, indexes, latest, jobPrefix, delayedKey, ready, body, dueArg, now, nowArg)
  local id = records[i]
  local applied = recordOne(resultsPrefix, ttl, records, i, indexes, latest)
  if applied == 1 or redis.call('HGET', resultsPrefix .. id, 'status') == 'queued' then
    return applied, put(jobPrefix, delayedKey, ready, id, body, dueArg, now, nowArg)
  end
  return applied, 0
end
