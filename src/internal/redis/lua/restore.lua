--[[
  restore: puts back the message of a job a worker held when Redis lost its data (the message
  hash is gone from the queue altogether), keeping its attempt count, so that it is delivered
  again instead of being left in a state nothing moves on. A message in the queue (waiting,
  delayed or leased) is left alone.

  KEYS[1]   ready     list of ready ids, oldest first
  KEYS[2]   delayed   sorted set: id -> due time
  KEYS[3]   signal    wake-up tokens of idle consumers

  ARGV[1]   jobPrefix   prefix of the message hashes (jobPrefix .. id)
  ARGV[2]   now         ms
  ARGV[3]   signalCap   wake-up tokens kept at most
  ARGV[4]   id
  ARGV[5]   body
  ARGV[6]   attempt     the attempt of the delivery that held it (the next lease is newer)
  ARGV[7]   delay       ms

  Returns 1 (put back) or 0 (the message is in the queue).
]]
--- @include "includes/signal"
--- @include "includes/nudge"

local readyKey = KEYS[1]
local delayedKey = KEYS[2]
local signalKey = KEYS[3]

local jobPrefix = ARGV[1]
local nowArg = ARGV[2]
local signalCap = tonumber(ARGV[3])
local id = ARGV[4]
local body = ARGV[5]
local attempt = ARGV[6]
local delay = tonumber(ARGV[7])

local messageKey = jobPrefix .. id
if redis.call('EXISTS', messageKey) == 1 then return 0 end
local now = tonumber(nowArg)
if delay > 0 then
  redis.call('HSET', messageKey, 'body', body, 'attempt', attempt, 'due', now + delay)
  redis.call('ZADD', delayedKey, now + delay, id)
  nudge(signalKey)
else
  redis.call('HSET', messageKey, 'body', body, 'attempt', attempt, 'due', nowArg)
  redis.call('RPUSH', readyKey, id)
  signal(readyKey, signalKey, signalCap)
end
return 1
