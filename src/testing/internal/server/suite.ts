/**
 * The Server suite assembled: every concern's scenarios in one `describe` block, in a fixed
 * order, the optional ones when the options ask for them.
 *
 * @internal
 */
import { describe } from "@effect/vitest"
import type { Options } from "../../ServerSuite.js"
import type { LayerIt } from "../tester.js"
import { events } from "./events.js"
import { makeKit } from "./fixtures.js"
import { handoffs } from "./handoffs.js"
import { jobs } from "./jobs.js"
import { leases } from "./leases.js"
import { management } from "./management.js"
import { schedules } from "./schedules.js"
import { workflows } from "./workflows.js"

/** defines the suite's tests in a `describe` block named `name` */
export const run = <R>(name: string, options: Options<R>, it?: LayerIt<R>): void => {
  const kit = makeKit(options, it)
  describe(name, () => {
    management(kit)
    jobs(kit)
    workflows(kit)
    if (options.events !== false) events(kit)
    handoffs(kit)
    schedules(kit)
    if (options.visibilityTimeout !== undefined) leases(kit, options.visibilityTimeout)
  })
}
