/**
 * The local side of events: the subscribers of this process, each with its filter, and the
 * fan-out of incoming events to them. Subscribers that filter by job id (every `awaitJob`) are
 * found through an index, so a thousand waiting calls cost one lookup per event, not a thousand
 * filter checks. Every backend's `Events` uses one: Memory dispatches what it publishes
 * directly, Redis and NATS what their subscription receives.
 *
 * @internal
 */
import type { Scope } from "effect"
import { Effect } from "effect"
import type { Filter, JobEvent } from "../../JobEvent.js"
import { matches } from "../../JobEvent.js"

interface Subscriber {
  readonly filter: Filter
  readonly onEvent: (event: JobEvent) => void
}

export interface Hub {
  /** how many subscribers there are (0: publishing can skip all work) */
  readonly size: () => number
  /** hands events to the subscribers whose filter they pass */
  readonly dispatch: (events: ReadonlyArray<JobEvent>) => void
  /** adds a subscriber for as long as the scope is open */
  readonly add: (filter: Filter, onEvent: (event: JobEvent) => void) => Effect.Effect<void, never, Scope.Scope>
}

export const make = (): Hub => {
  const byId = new Map<string, Set<Subscriber>>()
  const others = new Set<Subscriber>()
  let size = 0

  const deliver = (subscriber: Subscriber, event: JobEvent) => {
    if (!matches(subscriber.filter, event)) return
    try {
      subscriber.onEvent(event)
    } catch {
      // a subscriber's failure is its own; the others still get the event
    }
  }

  const dispatch = (events: ReadonlyArray<JobEvent>) => {
    if (size === 0) return
    for (const event of events) {
      const subscribers = byId.get(event.id)
      if (subscribers !== undefined) for (const s of subscribers) deliver(s, event)
      for (const s of others) deliver(s, event)
    }
  }

  const add = (filter: Filter, onEvent: (event: JobEvent) => void) => {
    const subscriber: Subscriber = { filter, onEvent }
    return Effect.acquireRelease(
      Effect.sync(() => {
        size++
        if (filter.id === undefined) {
          others.add(subscriber)
          return
        }
        let set = byId.get(filter.id)
        if (set === undefined) byId.set(filter.id, set = new Set())
        set.add(subscriber)
      }),
      () =>
        Effect.sync(() => {
          size--
          if (filter.id === undefined) {
            others.delete(subscriber)
            return
          }
          const set = byId.get(filter.id)
          set?.delete(subscriber)
          if (set?.size === 0) byId.delete(filter.id)
        })
    )
  }

  return { size: () => size, dispatch, add }
}
