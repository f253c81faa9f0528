--[[
  Fencing. The `attempt` field of a message hash is the fencing token: it counts the leases
  given, and a delivery carries the attempt it was leased under.

  holds(leasesKey, messageKey, id, attempt, now): the lease of (id, attempt) holds: the
  message is leased, under that attempt, and its deadline has not passed.

  acknowledge(leasesKey, messageKey, id, attempt, now): removes the message of (id, attempt)
  if its lease holds; gives 1, else 0.
]]
local function holds(leasesKey, messageKey, id, attempt, now)
  local deadline = redis.call('ZSCORE', leasesKey, id)
  if not deadline or tonumber(deadline) <= now then return false end
  return redis.call('HGET', messageKey, 'attempt') == attempt
end

local function acknowledge(leasesKey, messageKey, id, attempt, now)
  if not holds(leasesKey, messageKey, id, attempt, now) then return 0 end
  redis.call('ZREM', leasesKey, id)
  redis.call('DEL', messageKey)
  return 1
end
