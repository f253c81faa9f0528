--[[
  fields: one field of many job hashes of the results store. Read-only.

  KEYS[1]   any key of the results' hash tag (routes the call on Redis Cluster); not read

  ARGV[1]   jobPrefix   prefix of the job hashes (jobPrefix .. id)
  ARGV[2]   field       `message` or `result`
  ARGV[3..] ids

  Returns the field of each job (nil where missing).
]]
local jobPrefix = ARGV[1]
local field = ARGV[2]
local firstId = 3

local out = {}
for i = firstId, #ARGV do
  out[i - firstId + 1] = redis.call('HGET', jobPrefix .. ARGV[i], field)
end
return out
