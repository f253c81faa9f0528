--[[
  remove: removes a waiting (ready or delayed) message.

  KEYS[1]   ready     list of ready ids, oldest first
  KEYS[2]   delayed   sorted set: id -> due time
  KEYS[3]   retrying  sorted set: id -> due time of a retry

  ARGV[1]   jobPrefix   prefix of the message hashes (jobPrefix .. id)
  ARGV[2]   id

  Returns 1, or 0 when the message is not waiting.
]]
local readyKey = KEYS[1]
local delayedKey = KEYS[2]
local retryingKey = KEYS[3]

local jobPrefix = ARGV[1]
local id = ARGV[2]

local messageKey = jobPrefix .. id
if redis.call('EXISTS', messageKey) == 0 then return 0 end
if redis.call('ZREM', delayedKey, id) == 1 or redis.call('LREM', readyKey, 1, id) == 1 then
  redis.call('DEL', messageKey)
  redis.call('ZREM', retryingKey, id)
  return 1
end
return 0
