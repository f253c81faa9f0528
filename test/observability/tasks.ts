/** The task of the cross-process trace tests. */
import { Schema } from "effect"
import * as Task from "../../src/Task.js"

export const Remote = Task.make("obs.remote", { payload: Schema.Struct({ sleepMs: Schema.Number }) })
