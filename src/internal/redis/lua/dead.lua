--[[
  dead: requeues or purges dead letters of a queue, all or those of some ids. A requeued dead
  letter becomes a new message, ready at once (attempts count afresh); one whose id is in the
  queue again is only taken out of the dead letters.

  KEYS[1]   ready     list of ready ids, oldest first
  KEYS[2]   dead      list of packed dead letters, oldest first
  KEYS[3]   signal    wake-up tokens of idle consumers

  ARGV[1]   jobPrefix   prefix of the message hashes (jobPrefix .. id)
  ARGV[2]   now         ms
  ARGV[3]   signalCap   wake-up tokens kept at most
  ARGV[4]   action      requeue | purge
  ARGV[5]   all         "1": every dead letter; "0": those of ARGV[6..]
  ARGV[6..] ids

  Returns the ids taken out of the dead letters, in their order there.
]]
--- @include "includes/signal"

local readyKey = KEYS[1]
local deadKey = KEYS[2]
local signalKey = KEYS[3]

local jobPrefix = ARGV[1]
local nowArg = ARGV[2]
local signalCap = tonumber(ARGV[3])
local requeue = ARGV[4] == 'requeue'
local all = ARGV[5] == '1'

local wanted = {}
for i = 6, #ARGV do wanted[ARGV[i]] = true end

local taken = {}
local kept = {}
local ready = {}
for _, entry in ipairs(redis.call('LRANGE', deadKey, 0, -1)) do
  -- "<at>:<id length>:<reason length>:" id reason body
  local a = string.find(entry, ':', 1, true)
  local b = string.find(entry, ':', a + 1, true)
  local c = string.find(entry, ':', b + 1, true)
  local idLength = tonumber(string.sub(entry, a + 1, b - 1))
  local reasonLength = tonumber(string.sub(entry, b + 1, c - 1))
  local id = string.sub(entry, c + 1, c + idLength)
  if all or wanted[id] then
    taken[#taken + 1] = id
    if requeue and redis.call('EXISTS', jobPrefix .. id) == 0 then
      local body = string.sub(entry, c + idLength + reasonLength + 1)
      redis.call('HSET', jobPrefix .. id, 'body', body, 'due', nowArg)
      ready[#ready + 1] = id
    end
  else
    kept[#kept + 1] = entry
  end
end
if #taken == 0 then return taken end
redis.call('DEL', deadKey)
for i = 1, #kept, 1000 do
  redis.call('RPUSH', deadKey, unpack(kept, i, math.min(i + 999, #kept)))
end
for i = 1, #ready, 1000 do
  redis.call('RPUSH', readyKey, unpack(ready, i, math.min(i + 999, #ready)))
end
if #ready > 0 then signal(readyKey, signalKey, signalCap) end
return taken
