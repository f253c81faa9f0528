--[[
  One message put in a queue, shared by the enqueue scripts.

  put(jobPrefix, delayedKey, ready, id, body, dueArg, now, nowArg): unless the message hash
  jobPrefix .. id exists (the message is waiting, delayed or leased), writes it: delayed (in
  delayedKey, by due time) when dueArg is later than now, else ready (its id appended to the
  table `ready`, for one RPUSH of all). Gives 1 (put) or 0 (skipped).

  Message hash fields: body, attempt (the fencing token: leases given), lost (leases that ran
  out), due (time it became ready, or is due), lapsed (set while ready after a lease ran out,
  until the next claim). A message is in the queue exactly while its hash exists.

  wake(readyKey, signalKey, signalCap, ready, added): appends the ids `put` made ready to the
  ready list in one RPUSH and tops up the signal tokens; when only delayed messages were added,
  nudges one idle consumer (it reads the new earliest due time).
]]
--- @include "signal"
--- @include "nudge"

local function put(jobPrefix, delayedKey, ready, id, body, dueArg, now, nowArg)
  local messageKey = jobPrefix .. id
  if redis.call('EXISTS', messageKey) == 1 then return 0 end
  local due = tonumber(dueArg)
  if due > now then
    redis.call('HSET', messageKey, 'body', body, 'due', dueArg)
    redis.call('ZADD', delayedKey, due, id)
  else
    redis.call('HSET', messageKey, 'body', body, 'due', nowArg)
    ready[#ready + 1] = id
  end
  return 1
end

local function wake(readyKey, signalKey, signalCap, ready, added)
  if #ready > 0 then
    redis.call('RPUSH', readyKey, unpack(ready))
    signal(readyKey, signalKey, signalCap)
  elseif added > 0 then
    nudge(signalKey)
  end
end
