--[[
  enqueue: adds messages to a queue, ready now or delayed. A message whose id is in the queue
  (waiting, delayed or leased) is skipped (see includes/put).

  KEYS[1]   ready     list of ready ids, oldest first
  KEYS[2]   delayed   sorted set: id -> due time
  KEYS[3]   signal    wake-up tokens of idle consumers

  ARGV[1]   jobPrefix   prefix of the message hashes (jobPrefix .. id)
  ARGV[2]   now         ms
  ARGV[3]   signalCap   wake-up tokens kept at most
  ARGV[4..] (id, body, due) per message; due <= now means ready now

  Returns how many messages were added.
]]
--- @include "includes/put"

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
  added = added + put(jobPrefix, delayedKey, ready, ARGV[i], ARGV[i + 1], ARGV[i + 2], now, nowArg)
end
wake(readyKey, signalKey, signalCap, ready, added)
return added
