--[[
  release: puts back, ready at once, each leased message whose lease is still the delivery's
  (a closing consumer's unsettled deliveries), whatever its deadline.

  KEYS[1]   ready     list of ready ids, oldest first
  KEYS[2]   leases    sorted set: id -> lease deadline
  KEYS[3]   signal    wake-up tokens of idle consumers

  ARGV[1]   jobPrefix     prefix of the message hashes (jobPrefix .. id)
  ARGV[2]   now           ms
  ARGV[3]   signalCap     wake-up tokens kept at most
  ARGV[4]   resultsPrefix prefix of the results store's job hashes, whose `processing` marks
                          of the deliveries put back are undone (see includes/processing); ''
  ARGV[5]   forgetCount   how many reply keys follow
  ARGV[6..5 + forgetCount]      reply keys of the consumer's calls whose replies arrived: deleted
  ARGV[6 + forgetCount..]       (id, attempt) per delivery

  Returns how many were put back.
]]
--- @include "includes/signal"
--- @include "includes/processing"

local readyKey = KEYS[1]
local leasesKey = KEYS[2]
local signalKey = KEYS[3]

local jobPrefix = ARGV[1]
local nowArg = ARGV[2]
local signalCap = tonumber(ARGV[3])
local resultsPrefix = ARGV[4]
local forgetCount = tonumber(ARGV[5])
local firstForget = 6
local firstDelivery = firstForget + forgetCount

if forgetCount > 0 then redis.call('DEL', unpack(ARGV, firstForget, firstDelivery - 1)) end
local released = 0
for i = firstDelivery, #ARGV, 2 do
  local id, attempt = ARGV[i], ARGV[i + 1]
  local messageKey = jobPrefix .. id
  if redis.call('HGET', messageKey, 'attempt') == attempt and redis.call('ZREM', leasesKey, id) == 1 then
    redis.call('HSET', messageKey, 'due', nowArg)
    redis.call('RPUSH', readyKey, id)
    unmarkProcessing(resultsPrefix, id, attempt)
    released = released + 1
  end
end
if released > 0 then signal(readyKey, signalKey, signalCap) end
return released
