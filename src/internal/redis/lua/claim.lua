--[[
  claim: leases up to `count` messages of a queue to a consumer (see includes/claim). Run again
  with the same reply key (a call re-sent after a reconnect), it returns the same deliveries.

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

  Returns { next, id1, attempt1, body1, marked1, ... }: marked is 1 when the claim marked the
  job `processing` in the results store (see includes/processing), else 0; an attempt is
  negative for a message whose last lease ran out (taken over); next is the earliest due time
  or lease deadline left (-1 for none) when fewer than `count` were leased, else -1.
]]
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

forgetReplies(ARGV, firstForget, forgetCount)
local previous = recallReply(replyKey)
if previous then return replayClaim(queue, request.jobPrefix, previous, {}) end
local leased = {}
local out = claim(queue, request, {}, leased)
if #leased > 0 then rememberReply(replyKey, leased, request.visibilityTimeout) end
return out
