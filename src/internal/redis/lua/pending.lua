--[[
  pending: the waiting messages of a queue. Read-only.

  KEYS[1]   ready     list of ready ids, oldest first
  KEYS[2]   delayed   sorted set: id -> due time

  ARGV[1]   jobPrefix   prefix of the message hashes (jobPrefix .. id)

  Returns { ready count, then (id, due, body) per message: the ready ones in order, then the
  delayed ones by due time }.
]]
local readyKey = KEYS[1]
local delayedKey = KEYS[2]

local jobPrefix = ARGV[1]

local out = { 0 }
local ready = redis.call('LRANGE', readyKey, 0, -1)
for _, id in ipairs(ready) do
  local message = redis.call('HMGET', jobPrefix .. id, 'due', 'body')
  if message[2] then
    out[#out + 1] = id
    out[#out + 1] = tonumber(message[1])
    out[#out + 1] = message[2]
    out[1] = out[1] + 1
  end
end
local delayed = redis.call('ZRANGE', delayedKey, 0, -1, 'WITHSCORES')
for i = 1, #delayed, 2 do
  local body = redis.call('HGET', jobPrefix .. delayed[i], 'body')
  if body then
    out[#out + 1] = delayed[i]
    out[#out + 1] = tonumber(delayed[i + 1])
    out[#out + 1] = body
  end
end
return out
