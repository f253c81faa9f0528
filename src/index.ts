/**
 * tasqueue: distributed jobs and workers for Effect.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Broker from "./Broker.js"
/** @since 0.1.0 */
export * as Job from "./Job.js"
/** @since 0.1.0 */
export * as JobCtx from "./JobCtx.js"
/** @since 0.1.0 */
export * as JobEvent from "./JobEvent.js"
/** @since 0.1.0 */
export * as Management from "./Management.js"
/** @since 0.1.0 */
export * as Metrics from "./Metrics.js"
/** @since 0.1.0 */
export * as Results from "./Results.js"
/** @since 0.1.0 */
export * as Server from "./Server.js"
/** @since 0.1.0 */
export * as Task from "./Task.js"
/** @since 0.1.0 */
export * as TasqueueError from "./TasqueueError.js"
/** @since 0.1.0 */
export * as Workflow from "./Workflow.js"
