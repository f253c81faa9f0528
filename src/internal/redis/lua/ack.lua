--[[
  ack: removes each delivered message whose lease holds, then claims up to `count` messages for
  the slots this frees (count is 0 when nobody waits for them): a worker that finishes a job
  gets its next one in the same round trip. Run again with the same reply key, it returns the
  same reply.

  KEYS[1]   ready     list of ready ids, oldest first
  KEYS[2]   delayed   sorted set: id -> due time
  KEYS[3]   leases    sorted set: id -> lease deadline
  KEYS[4]   signal    wake-up tokens of idle consumers
  KEYS[5]   dead      list of packed dead letters

  ARGV[1]   jobPrefix           prefix of the message hashes (jobPrefix .. id)
  ARGV[2]   now                 ms
  ARGV[3]   leaseDeadline       ms: now + visibility timeout
  ARGV[4]   count               how many to claim
  ARGV[5]   maxLost             lost leases after which a message goes to the dead letters
  ARGV[6]   signalCap           wake-up tokens kept at most
  ARGV[7]   visibilityTimeout   ms
  ARGV[8]   resultsPrefix       prefix of the results store's job hashes, whose jobs the claim
                                marks `processing` (see includes/processing); '' for none
  ARGV[9]   replyKey            where this call leaves its reply ('' for none)
  ARGV[10]  forgetCount         how many reply keys follow
  ARGV[11..10 + forgetCount]    reply keys of earlier calls whose replies arrived: deleted
  ARGV[11 + forgetCount..]      (id, attempt) per delivery

  Returns { flag count, 1 or 0 per delivery (acknowledged, or lease lost), then what `claim`
  returns when count > 0 }.
]]
--- @include "includes/lease"
--- @include "includes/replies"

local queue = { ready = KEYS[1], delayed = KEYS[2], leases = KEYS[3], signal = KEYS[4], dead = KEYS[5] }

local request = {
  jobPrefix = ARGV[1],
  nowArg = ARGV[2],
  leaseDeadline = ARGV[3],
  count = tonumber(ARGV[4]),
  maxLost = tonumber(ARGV[5]),
  signalCap = tonumber(ARGV[6]),
  visibilityTimeout = ARGV[7],
  resultsPrefix = ARGV[8]
}
local replyKey = ARGV[9]
local forgetCount = tonumber(ARGV[10])
local firstForget = 11
local firstDelivery = firstForget + forgetCount

local now = tonumber(request.nowArg)
forgetReplies(ARGV, firstForget, forgetCount)
local previous = recallReply(replyKey)
if previous then return replayedReply(queue, request, previous) end
local flags = {}
for i = firstDelivery, #ARGV, 2 do
  local id, attempt = ARGV[i], ARGV[i + 1]
  flags[#flags + 1] = acknowledge(queue.leases, request.jobPrefix .. id, id, attempt, now)
end
return settledReply(queue, request, flags, replyKey)
