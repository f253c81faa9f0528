--[[
  Coordination values and sets of the results store (a workflow's definition and end, a group's
  finished members), shared by the add, enqueueRecorded and settle scripts.

  createValue(key, value, ttl): sets `key` to `value` unless it exists, with the time to live
  `ttl` (ms, 0 for none); gives true when it set it.

  addMember(setKey, member, ttl): adds `member` to the set; its time to live (ms, 0 for none)
  is set when the set is created. Gives the set's size.
]]
local function createValue(key, value, ttl)
  if ttl > 0 then return redis.call('SET', key, value, 'NX', 'PX', ttl) ~= false end
  return redis.call('SET', key, value, 'NX') ~= false
end

local function addMember(setKey, member, ttl)
  local added = redis.call('SADD', setKey, member)
  local size = redis.call('SCARD', setKey)
  if added == 1 and size == 1 and ttl > 0 then redis.call('PEXPIRE', setKey, ttl) end
  return size
end
