/**
 * What the Redis bench scripts share: profiling of the measured phase only, and the Redis
 * server's CPU time.
 *
 * PROFILE=<file>: a CPU profile (.cpuprofile, for Chrome devtools);
 * ALLOC=<file>: a sampled profile of what the phase allocates (.heapprofile)
 */
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector"

const profile = process.env.PROFILE
const alloc = process.env.ALLOC
const session = profile === undefined && alloc === undefined ? undefined : new Session()
const inspect = (method: string, params: object = {}) =>
  Effect.async<any>((resume) => {
    session!.post(method, params, (error, result) => resume(error ? Effect.die(error) : Effect.succeed(result)))
  })

/** starts and stops the profiler that PROFILE or ALLOC asks for (no-ops without them) */
export const profiling = {
  start: session === undefined ? Effect.void : Effect.suspend(() => {
    session.connect()
    return alloc !== undefined
      ? inspect("HeapProfiler.startSampling", {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true
      })
      : Effect.zipRight(inspect("Profiler.enable"), inspect("Profiler.start"))
  }),
  stop: session === undefined ? Effect.void : alloc !== undefined
    ? Effect.map(inspect("HeapProfiler.stopSampling"), (r) => writeFileSync(alloc, JSON.stringify(r.profile)))
    : Effect.map(inspect("Profiler.stop"), (r) => writeFileSync(profile!, JSON.stringify(r.profile)))
}

/** CPU seconds the Redis server has used so far, from `INFO cpu` */
export const redisCpu = (cli: (...args: ReadonlyArray<string>) => Effect.Effect<string, unknown>) =>
  Effect.orDie(Effect.map(cli("info", "cpu"), (info) =>
    [...info.matchAll(/used_cpu_(?:user|sys):([\d.]+)/g)].reduce((sum, m) => sum + Number(m[1]), 0)))
