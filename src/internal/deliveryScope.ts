/**
 * What a delivery needs around the work done for it: a broker may give a delivery a scope that
 * the worker runs the whole attempt in (NATS: the delivery's lease, which its Results store
 * reads to fence the attempt's records). The fiber that takes a delivery is not always the one
 * that runs it (the Server's intake hands deliveries to long-lived workers), so a lease cannot
 * travel on the taking fiber.
 *
 * @internal
 */
import type { Effect } from "effect"
import type { Delivery } from "../Broker.js"

/** the key of a delivery's scope */
export const deliveryScope: unique symbol = Symbol.for("tasqueue/delivery/scope")

/** runs an effect within what the delivery needs */
export type Scope = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/** the delivery with `scope` attached */
export const withScope = <D extends Delivery>(delivery: D, scope: Scope): D =>
  Object.assign(delivery, { [deliveryScope]: scope })

/** runs `effect` within the delivery's scope, if it has one */
export const within = <A, E, R>(delivery: Delivery, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const scope = (delivery as { readonly [deliveryScope]?: Scope })[deliveryScope]
  return scope === undefined ? effect : scope(effect)
}
