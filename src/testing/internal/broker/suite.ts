/**
 * The Broker suite assembled: every concern's scenarios in one `describe` block, the optional
 * ones when the options ask for them.
 *
 * @internal
 */
import { describe } from "@effect/vitest"
import type { Options } from "../../BrokerSuite.js"
import type { LayerIt } from "../tester.js"
import { consumers } from "./consumers.js"
import { delivery } from "./delivery.js"
import { makeKit } from "./fixtures.js"
import { leases, redeliveryLimit } from "./leases.js"
import { management } from "./management.js"
import { settlement } from "./settlement.js"

/** defines the suite's tests in a `describe` block named `name` */
export const run = <R>(name: string, options: Options<R>, it?: LayerIt<R>): void => {
  const kit = makeKit(options, it)
  describe(name, () => {
    management(kit)
    delivery(kit)
    settlement(kit)
    leases(kit)
    if (options.maxRedeliveries !== undefined) redeliveryLimit(kit, options.maxRedeliveries)
    consumers(kit)
  })
}
