--[[
  nudge(signalKey): wakes one idle consumer, if none is woken already, so that it reads the
  queue's earliest due time again: a delayed message was added that may be due before the one
  it waits for.
]]
local function nudge(signalKey)
  if redis.call('LLEN', signalKey) == 0 then redis.call('LPUSH', signalKey, '1') end
end
