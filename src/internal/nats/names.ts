/**
 * Names of everything the NATS backend creates: streams, consumers, subjects, KV keys and
 * headers, all derived from one prefix, plus the reversible token encoding that lets any queue
 * name, job id or key travel as one subject token.
 *
 * @internal
 */

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const hex = "0123456789ABCDEF"

/** the longest token we put in a subject or stream name */
export const maxTokenLength = 1024

const isSafe = (b: number) =>
  (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d

/**
 * Encodes a string as a subject token, a stream-name fragment and a KV key fragment at once:
 * ASCII letters, digits and `-` stay, every other UTF-8 byte becomes `_XX`. The empty string is
 * `_`. Reversible with `decodeToken`.
 * @internal
 */
export const encodeToken = (text: string): string => {
  if (text.length === 0) return "_"
  let out = ""
  for (const b of encoder.encode(text)) {
    out += isSafe(b) ? String.fromCharCode(b) : `_${hex[b >> 4]}${hex[b & 15]}`
  }
  return out
}

/** @internal */
export const decodeToken = (token: string): string => {
  if (token === "_") return ""
  const bytes: Array<number> = []
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i)
    if (c === 0x5f && i + 2 < token.length && /^[0-9A-F]{2}$/.test(token.slice(i + 1, i + 3))) {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      bytes.push(c)
    }
  }
  return decoder.decode(new Uint8Array(bytes))
}

/** @internal */
export const isValidPrefix = (prefix: string): boolean => /^[A-Za-z0-9_-]{1,64}$/.test(prefix)

/**
 * Every name the backend uses, for one prefix.
 * @internal
 */
export interface Names {
  readonly prefix: string
  /** the stream of one queue (work-queue retention) */
  readonly queueStream: (queueToken: string) => string
  /** the subjects of a queue's stream: one subject per job id */
  readonly queueSubjects: (queueToken: string) => string
  readonly queueSubject: (queueToken: string, idToken: string) => string
  /** the durable pull consumer every worker of a queue shares */
  readonly workers: string
  /** the stream of delayed messages of every queue (work-queue retention) */
  readonly delayedStream: string
  readonly delayedSubject: (queueToken: string, idToken: string) => string
  readonly delayedFilter: (queueToken: string) => string
  readonly delayedAll: string
  /** the durable consumer the schedulers share */
  readonly scheduler: string
  /** the dead letters of every queue (limits retention) */
  readonly deadStream: string
  readonly deadSubject: (queueToken: string, idToken: string) => string
  readonly deadFilter: (queueToken: string) => string
  readonly deadAll: string
  /** the results KV bucket */
  readonly bucket: string
}

/** @internal */
export const names = (prefix: string): Names => ({
  prefix,
  queueStream: (q) => `${prefix}_q_${q}`,
  queueSubjects: (q) => `${prefix}.q.${q}.*`,
  queueSubject: (q, id) => `${prefix}.q.${q}.${id}`,
  workers: "workers",
  delayedStream: `${prefix}_delayed`,
  delayedSubject: (q, id) => `${prefix}.delayed.${q}.${id}`,
  delayedFilter: (q) => `${prefix}.delayed.${q}.*`,
  delayedAll: `${prefix}.delayed.*.*`,
  scheduler: "scheduler",
  deadStream: `${prefix}_dead`,
  deadSubject: (q, id) => `${prefix}.dead.${q}.${id}`,
  deadFilter: (q) => `${prefix}.dead.${q}.*`,
  deadAll: `${prefix}.dead.*.*`,
  bucket: `${prefix}_results`
})

/**
 * The queue and id of a `<prefix>.<kind>.<queue>.<id>` subject, decoded.
 * @internal
 */
export const parseSubject = (subject: string): { readonly queue: string; readonly id: string } => {
  const parts = subject.split(".")
  return { queue: decodeToken(parts[parts.length - 2] ?? ""), id: decodeToken(parts[parts.length - 1] ?? "") }
}

/**
 * Message headers. Times are epoch milliseconds from `Clock`, as decimal strings.
 * @internal
 */
export const Header = {
  /** the job id as message id: a retried publish within the duplicate window is dropped */
  msgId: "Nats-Msg-Id",
  /** deliveries of this job before this copy of its message was published */
  attempts: "Tq-Attempts",
  /** when a ready message became ready */
  at: "Tq-At",
  /** when a delayed message is due */
  runAt: "Tq-Run-At",
  /** the revision of the job's `queued` state in the results bucket, when the enqueuer knew it */
  revision: "Tq-Rev",
  /** why a message was dead-lettered (URI-encoded) */
  reason: "Tq-Reason"
} as const
