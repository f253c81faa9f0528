--[[
  nack: puts a leased message back, ready now or delayed, maybe with a new body, if its lease
  holds.

  KEYS[1]   ready     list of ready ids, oldest first
  KEYS[2]   delayed   sorted set: id -> due time
  KEYS[3]   leases    sorted set: id -> lease deadline
  KEYS[4]   signal    wake-up tokens of idle consumers
  KEYS[5]   retrying  sorted set: id -> due time of a retry (entries past their time are stale)

  ARGV[1]   jobPrefix   prefix of the message hashes (jobPrefix .. id)
  ARGV[2]   now         ms
  ARGV[3]   signalCap   wake-up tokens kept at most
  ARGV[4]   id
  ARGV[5]   attempt     the delivery's fencing token
  ARGV[6]   delay       ms; 0: ready now
  ARGV[7]   hasBody     "1": replace the body with ARGV[8]; "0": keep it
  ARGV[8]   body

  Returns 1, or 0 when the lease does not hold.
]]
--- @include "includes/signal"
--- @include "includes/nudge"
--- @include "includes/lease"

local readyKey = KEYS[1]
local delayedKey = KEYS[2]
local leasesKey = KEYS[3]
local signalKey = KEYS[4]
local retryingKey = KEYS[5]

local jobPrefix = ARGV[1]
local nowArg = ARGV[2]
local signalCap = tonumber(ARGV[3])
local id = ARGV[4]
local attempt = ARGV[5]
local delay = tonumber(ARGV[6])
local hasBody = ARGV[7] == '1'
local body = ARGV[8]

local now = tonumber(nowArg)
local messageKey = jobPrefix .. id
if not holds(leasesKey, messageKey, id, attempt, now) then return 0 end
redis.call('ZREM', leasesKey, id)
if hasBody then redis.call('HSET', messageKey, 'body', body) end
if delay > 0 then
  redis.call('HSET', messageKey, 'due', now + delay)
  redis.call('ZADD', delayedKey, now + delay, id)
  redis.call('ZREMRANGEBYSCORE', retryingKey, '-inf', now)
  redis.call('ZADD', retryingKey, now + delay, id)
  nudge(signalKey)
else
  redis.call('HSET', messageKey, 'due', nowArg)
  redis.call('ZREM', retryingKey, id)
  redis.call('RPUSH', readyKey, id)
  signal(readyKey, signalKey, signalCap)
end
return 1
