--[[
  The claim, shared by the claim, ack and settle scripts.

  `queue` names the queue's keys: { ready, delayed, leases, signal, dead }.
  `request` is what the call claims with, as its arguments give it: {
    jobPrefix          prefix of the message hashes
    nowArg             now (ms), as sent
    leaseDeadline      deadline of the leases given (ms), as sent
    count              how many to claim
    maxLost            lost leases after which a message goes to the dead letters
    signalCap          wake-up tokens kept at most
    visibilityTimeout  ms, as sent: for the dead-letter reason, and the reply's time to live
    resultsPrefix      prefix of the job hashes of the results store on this Redis, whose jobs a
                       claim marks `processing` (see includes/processing); '' for none
  }

  claim(queue, request, out, leased): moves due delayed messages to ready, and expired leases
  back to ready (or to the dead letters once they were lost more than maxLost times), then
  leases up to `count` ready messages. Appends { next, id1, attempt1, body1, marked1, ... } to
  `out` (marked: 1 when the claim marked the job `processing` in the results store, else 0),
  where next is the earliest due time or lease deadline left (-1 for none) when fewer than
  `count` were leased (-1 otherwise), so that an idle consumer knows when to look again; and
  (id, attempt) per lease to `leased`. An attempt is negative when the message's last lease ran
  out (its `lapsed` field, set here on expiry): this delivery takes it over.

  replayClaim(queue, jobPrefix, leased, out): the claim of a call re-sent after a reconnect:
  appends, as `claim` does (none reported marked), those of its first run's leases (id,
  attempt pairs, the attempt negative for a take-over) that are still leased under the same
  attempt, instead of leasing new ones.
]]
--- @include "signal"
--- @include "deadLetter"
--- @include "processing"

local function nextDeadline(queue)
  local next = -1
  local firstDelayed = redis.call('ZRANGE', queue.delayed, 0, 0, 'WITHSCORES')
  if #firstDelayed > 0 then next = tonumber(firstDelayed[2]) end
  local firstLease = redis.call('ZRANGE', queue.leases, 0, 0, 'WITHSCORES')
  if #firstLease > 0 and (next == -1 or tonumber(firstLease[2]) < next) then next = tonumber(firstLease[2]) end
  return next
end

local function claim(queue, request, out, leased)
  local jobPrefix = request.jobPrefix
  local now = tonumber(request.nowArg)
  local due = redis.call('ZRANGEBYSCORE', queue.delayed, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
  if #due > 0 then
    local ids = {}
    for i = 1, #due, 2 do
      ids[#ids + 1] = due[i]
      redis.call('HSET', jobPrefix .. due[i], 'due', due[i + 1])
    end
    redis.call('ZREM', queue.delayed, unpack(ids))
    redis.call('RPUSH', queue.ready, unpack(ids))
  end

  local expired = redis.call('ZRANGEBYSCORE', queue.leases, '-inf', now, 'LIMIT', 0, 1000)
  if #expired > 0 then
    redis.call('ZREM', queue.leases, unpack(expired))
    for _, id in ipairs(expired) do
      local messageKey = jobPrefix .. id
      local body = redis.call('HGET', messageKey, 'body')
      if body then
        local lost = redis.call('HINCRBY', messageKey, 'lost', 1)
        if lost > request.maxLost then
          local reason = 'lease lost ' .. lost .. ' times (visibility timeout ' .. request.visibilityTimeout .. ' ms)'
          redis.call('RPUSH', queue.dead, packDeadLetter(now, id, reason, body))
          redis.call('DEL', messageKey)
        else
          redis.call('HSET', messageKey, 'due', request.nowArg, 'lapsed', '1')
          redis.call('RPUSH', queue.ready, id)
        end
      end
    end
  end

  local first = #out + 1
  out[first] = -1
  local claimed = 0
  if request.count > 0 then
    local ids = redis.call('LPOP', queue.ready, request.count)
    if ids then
      local leases = {}
      for _, id in ipairs(ids) do
        local messageKey = jobPrefix .. id
        local fields = redis.call('HMGET', messageKey, 'body', 'lapsed')
        local body = fields[1]
        if body then
          local attempt = redis.call('HINCRBY', messageKey, 'attempt', 1)
          -- reported negative when this lease takes over one that ran out
          local reported = attempt
          if fields[2] then
            redis.call('HDEL', messageKey, 'lapsed')
            reported = -attempt
          end
          out[#out + 1] = id
          out[#out + 1] = reported
          out[#out + 1] = body
          out[#out + 1] = markProcessing(request.resultsPrefix, id, attempt, request.nowArg)
          leased[#leased + 1] = id
          leased[#leased + 1] = reported
          leases[#leases + 1] = request.leaseDeadline
          leases[#leases + 1] = id
          claimed = claimed + 1
        end
      end
      if #leases > 0 then redis.call('ZADD', queue.leases, unpack(leases)) end
    end
  end

  signal(queue.ready, queue.signal, request.signalCap)

  if claimed < request.count then out[first] = nextDeadline(queue) end
  return out
end

local function replayClaim(queue, jobPrefix, leased, out)
  local first = #out + 1
  out[first] = -1
  for i = 1, #leased, 2 do
    local id = leased[i]
    local messageKey = jobPrefix .. id
    if redis.call('ZSCORE', queue.leases, id) and redis.call('HGET', messageKey, 'attempt') == tostring(math.abs(leased[i + 1])) then
      out[#out + 1] = id
      out[#out + 1] = leased[i + 1]
      out[#out + 1] = redis.call('HGET', messageKey, 'body')
      -- not reported as marked: its worker records `processing` itself (a record like the mark)
      out[#out + 1] = 0
    end
  end
  out[first] = nextDeadline(queue)
  return out
end
