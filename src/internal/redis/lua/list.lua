--[[
  list: one page of a queue's messages in one state, and how many are in that state
  (read-only).

  KEYS[1]   ready     list of ready ids, oldest first
  KEYS[2]   delayed   sorted set: id -> due time
  KEYS[3]   retrying  sorted set: id -> due time of a retry (entries past their time are stale)
  KEYS[4]   leases    sorted set: id -> lease deadline
  KEYS[5]   dead      list of packed dead letters, oldest first

  ARGV[1]   jobPrefix   prefix of the message hashes (jobPrefix .. id)
  ARGV[2]   state       ready | delayed | retrying | leased | dead
  ARGV[3]   offset
  ARGV[4]   limit       at least 1
  ARGV[5]   now         ms

  Returns { total, ... }: for dead, the packed dead letters; else (id, at, body, retrying)
  per message, `retrying` 1 for a retry among the delayed ones. A message whose hash is gone
  (settled meanwhile) is left out.
]]
local jobPrefix = ARGV[1]
local state = ARGV[2]
local first = tonumber(ARGV[3])
local last = first + tonumber(ARGV[4]) - 1
local now = ARGV[5]

local out = {}
local function add(id, at, isRetry)
  local fields = redis.call('HMGET', jobPrefix .. id, 'body', 'due')
  if fields[1] then
    out[#out + 1] = id
    out[#out + 1] = at or fields[2] or '0'
    out[#out + 1] = fields[1]
    out[#out + 1] = isRetry and 1 or 0
  end
end

if state == 'dead' then
  out[1] = redis.call('LLEN', KEYS[5])
  for _, entry in ipairs(redis.call('LRANGE', KEYS[5], first, last)) do out[#out + 1] = entry end
  return out
end
if state == 'ready' then
  out[1] = redis.call('LLEN', KEYS[1])
  for _, id in ipairs(redis.call('LRANGE', KEYS[1], first, last)) do add(id, nil, false) end
  return out
end
if state == 'retrying' then
  out[1] = redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf')
  local page = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', first, last - first + 1)
  for i = 1, #page, 2 do add(page[i], page[i + 1], true) end
  return out
end
local key = state == 'delayed' and KEYS[2] or KEYS[4]
out[1] = redis.call('ZCARD', key)
local page = redis.call('ZRANGE', key, first, last, 'WITHSCORES')
for i = 1, #page, 2 do
  local isRetry = false
  if state == 'delayed' then
    local due = redis.call('ZSCORE', KEYS[3], page[i])
    isRetry = due ~= false and tonumber(due) > tonumber(now)
  end
  add(page[i], page[i + 1], isRetry)
end
return out
