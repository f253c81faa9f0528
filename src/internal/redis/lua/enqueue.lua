--[[
  enqueue: adds messages to a queue, ready now or delayed. A message whose id is in the queue
  (waiting, delayed or leased) is skipped.

  KEYS[1]   ready     list of ready ids, oldest first
  KEYS[2]   delayed   sorted set: id -> due time
  KEYS[3]   signal    wake-up tokens of idle consumers

  ARGV[1]   jobPrefix   prefix of the message hashes (jobPrefix .. id)
  ARGV[2]   now         ms
  ARGV[3]   signalCap   wake-up tokens kept at most
  ARGV[4..] (id, body, due) per message; due <= now means ready now

  Returns how many messages were added.

  Message hash fields: body, attempt (the fencing token: leases given), lost (leases that ran
  out), due (time it became ready, or is due), lapsed (set while ready after a lease ran out,
  until the next claim). A message is in the queue exactly while its hash
  exists.
]]
--- @include "includes/signal"
--- @include "includes/nudge"

local readyKey = KEYS[1]
local delayedKey = KEYS[2]
local signalKey = KEYS[3]

local jobPrefix = ARGV[1]
local nowArg = ARGV[2]
local signalCap = tonumber(ARGV[3])
local firstMessage = 4

local now = tonumber(nowArg)
local ready = {}
local added = 0
for i = firstMessage, #ARGV, 3 do
  local id, body, dueArg = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local messageKey = jobPrefix .. id
  if redis.call('EXISTS', messageKey) == 0 then
    local due = tonumber(dueArg)
    added = added + 1
    if due > now then
      redis.call('HSET', messageKey, 'body', body, 'due', dueArg)
      redis.call('ZADD', delayedKey, due, id)
    else
      redis.call('HSET', messageKey, 'body', body, 'due', nowArg)
      ready[#ready + 1] = id
    end
  end
end
if #ready > 0 then
  redis.call('RPUSH', readyKey, unpack(ready))
  signal(readyKey, signalKey, signalCap)
elseif added > 0 then
  nudge(signalKey)
end
return added
