--[[
  deleteJob: forgets a job of the results store.

  KEYS[1]   successful   sorted set: id -> at of the final record
  KEYS[2]   failed       sorted set: id -> at of the final record
  KEYS[3]   job          the job hash

  ARGV[1]   id

  Returns 1.
]]
local successfulKey = KEYS[1]
local failedKey = KEYS[2]
local jobKey = KEYS[3]

local id = ARGV[1]

redis.call('DEL', jobKey)
redis.call('ZREM', successfulKey, id)
redis.call('ZREM', failedKey, id)
return 1
