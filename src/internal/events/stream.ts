/**
 * `Server.events`: the events that pass a filter, as a `Stream`.
 *
 * @internal
 */
import type { Scope } from "effect"
import { Effect, Option, Queue, Stream } from "effect"
import { BrokerError } from "../../Broker.js"
import type { Events, Filter, JobEvent } from "../../JobEvent.js"

/** how many events wait for a slow reader before the oldest are dropped */
const buffer = 4096

/** subscribes now, in the current scope; the stream gives every event from then on */
export const subscribe = (
  events: Option.Option<Events["Type"]>,
  filter: Filter
): Effect.Effect<Stream.Stream<JobEvent>, BrokerError, Scope.Scope> =>
  Option.isNone(events)
    ? Effect.fail(new BrokerError({ message: "the backend provides no events (no Events service in context)" }))
    : Effect.gen(function*() {
      const queue = yield* Effect.acquireRelease(Queue.sliding<JobEvent>(buffer), Queue.shutdown)
      yield* events.value.subscribe(filter, (event) => {
        Queue.unsafeOffer(queue, event)
      })
      return Stream.fromQueue(queue)
    })

/** subscribes when the stream starts */
export const stream = (events: Option.Option<Events["Type"]>, filter: Filter): Stream.Stream<JobEvent, BrokerError> =>
  Stream.unwrapScoped(subscribe(events, filter))
