/**
 * `npm run chaos`: the ledger-checked fault suite on Redis and NATS. Starts its own servers on
 * free ports in temporary directories, worker processes that reach the server through an
 * in-process TCP proxy, injects each fault, and prints one table (fault × backend → jobs, lost,
 * double, stale, extra, recovery). A full run (no --faults, --backend or --n) also writes the
 * table to docs/reliability.md.
 *
 *   npm run chaos                                # every fault on both backends, then a seeded schedule
 *   npm run chaos -- --backend nats --faults worker-stop,worker-stop-slow
 *   npm run chaos -- --n 500 --seed 42          # --seed replays a schedule
 *   npm run chaos -- --self-test                 # shows each check fires, on a synthetic ledger
 *
 * Flags: --n (jobs per fault, 2000), --workers (3), --concurrency (4), --handler-ms (40),
 * --vt (visibility timeout in ms, 3000), --backend redis|nats|both, --faults (names as in
 * docs/reliability.md, `random` for the seeded schedule), --seed, --random-faults (6),
 * --schedule (faults of the schedule by name instead of drawn), --no-docs. Ledgers and worker logs stay in the temporary directory it prints.
 *
 * Exit code 1 when a check failed.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { cpus, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { parseArgs } from "node:util"
import { Effect, Logger } from "effect"
import * as Backends from "./backends.js"
import * as Faults from "./faults.js"
import * as Proxy from "./proxy.js"
import { selfTest } from "./selfTest.js"
import { clientOf, type Env, type Fault, makePool, type Row, runFault, seeded, type Settings, table } from "./suite.js"

export interface SuiteOptions {
  readonly settings: Settings
  readonly backends: ReadonlyArray<Backends.BackendName>
  readonly faults: ReadonlyArray<Fault>
  readonly seed: number
  /** prints a line per finished run */
  readonly progress?: ((line: string) => void) | undefined
}

/** runs `faults` on each backend; every backend gets fresh servers */
export const runSuite = (options: SuiteOptions) => {
  // what the runner's own clients log is kept (a loss must be logged), not printed
  const logs: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    logs.push(`${logLevel.label} ${Array.isArray(message) ? message.map(String).join(" ") : String(message)}`)
    if (logs.length > 20_000) logs.splice(0, 10_000)
  })
  return Effect.gen(function*() {
    const rows: Array<Row> = []
    for (const name of options.backends) {
      yield* Effect.scoped(Effect.gen(function*() {
        const backend = yield* (name === "redis" ? Backends.redis : Backends.nats)(options.settings.visibilityMs)
        const newProxy = () => Effect.acquireRelease(Effect.promise(() => Proxy.start(backend.port)), (p) => Effect.promise(p.close))
        const prefix = `chaos${options.seed}`
        const clientAt = (port: number) => clientOf(backend.layer(port, prefix))
        const proxy = yield* newProxy()
        const env: Env = {
          backend,
          proxy,
          pool: yield* makePool(name, proxy.port, prefix, options.settings),
          client: yield* clientAt(backend.port),
          prefix,
          logs: () => logs,
          newProxy,
          clientAt
        }
        let k = 0
        for (const fault of options.faults) {
          if (fault.backends !== undefined && !fault.backends.includes(name)) continue
          const random = seeded(options.seed * 1000 + k++)
          let row = yield* runFault(env, fault, options.settings, random).pipe(
            Effect.catchAllCause((cause) =>
              Effect.succeed<Row>({
                fault: fault.name,
                backend: name,
                verdict: { jobs: 0, lost: [], double: [], stale: [], extra: 0, inFlight: 0, recoveryMs: undefined, dead: 0, failed: 0 },
                wallMs: 0,
                notes: [`the run itself failed: ${String(cause).slice(0, 500)}`],
                ok: false
              })
            )
          )
          if (!row.ok) {
            // kept before the next fault changes the server (and before its scope deletes the store)
            const dir = join(options.settings.dir, `${name}-${fault.name}-server`)
            mkdirSync(dir, { recursive: true })
            const kept = yield* Effect.promise(() => backend.keep(dir))
            if (kept.length > 0) row = { ...row, notes: [...row.notes, `server state kept in ${dir}`] }
          }
          rows.push(row)
          options.progress?.(`${table([row]).split("\n")[2]}${row.notes.length > 0 ? `  ${row.notes.join("; ")}` : ""}`)
          // the proxy is shared by the runs of a backend: leave it clean
          env.proxy.stall(false)
          env.proxy.latency(0, 0)
          env.proxy.cutReplies(false)
        }
      }))
    }
    return rows
  }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
}

const versionOf = (binary: string, args: ReadonlyArray<string>) => {
  try {
    return execFileSync(binary, args, { encoding: "utf8" }).trim().split("\n")[0]!
  } catch {
    return "unknown"
  }
}

const main = async () => {
  const { values } = parseArgs({
    options: {
      n: { type: "string" },
      workers: { type: "string", default: "3" },
      concurrency: { type: "string", default: "4" },
      "handler-ms": { type: "string", default: "40" },
      vt: { type: "string", default: "3000" },
      backend: { type: "string", default: "both" },
      faults: { type: "string" },
      seed: { type: "string" },
      "random-faults": { type: "string", default: "6" },
      schedule: { type: "string" },
      "self-test": { type: "boolean", default: false },
      "no-docs": { type: "boolean", default: false }
    }
  })
  const problems = selfTest()
  if (values["self-test"]) {
    console.log(problems.length === 0 ? "self-test: every check fires (lost, double, stale, extra > in flight)" : problems.join("\n"))
    process.exit(problems.length === 0 ? 0 : 1)
  }
  if (problems.length > 0) throw new Error(`the checks do not fire:\n${problems.join("\n")}`)

  const seed = values.seed === undefined ? Math.floor(Math.random() * 1e6) : Number(values.seed)
  const n = Number(values.n ?? 2000)
  const dir = mkdtempSync(join(tmpdir(), "tasqueue-chaos-"))
  const settings: Settings = {
    n,
    workers: Number(values.workers),
    concurrency: Number(values.concurrency),
    handlerMs: Number(values["handler-ms"]),
    visibilityMs: Number(values.vt),
    drainTimeoutMs: 90_000,
    dir
  }
  const named = values.faults === undefined ? undefined : values.faults.split(",")
  const faults: Array<Fault> = Faults.all.filter((f) => named === undefined || named.includes(f.name))
  const randomCount = Number(values["random-faults"])
  if (named === undefined || named.includes("random")) {
    const schedule = values.schedule?.split(",")
    faults.push({ ...Faults.randomSchedule(seed, randomCount, schedule), settings: { n: n * 2 } })
  }
  const backends: ReadonlyArray<Backends.BackendName> = values.backend === "both" ? ["redis", "nats"] : [values.backend as Backends.BackendName]
  console.log(`seed ${seed} (replay: npm run chaos -- --seed ${seed}); ledgers and logs in ${dir}`)
  console.log(`N=${n}, ${settings.workers} workers × concurrency ${settings.concurrency}, handler ${settings.handlerMs} ms, visibility ${settings.visibilityMs} ms`)
  const started = Date.now()
  const rows = await Effect.runPromise(runSuite({ settings, backends, faults, seed, progress: (line) => console.log(line) }))
  const minutes = ((Date.now() - started) / 60_000).toFixed(1)
  const markdown = table(rows)
  console.log(`\n${markdown}\n`)
  for (const r of rows) {
    const v = r.verdict
    const detail = [
      v.lost.length > 0 ? `lost: ${v.lost.slice(0, 10).join(" ")}` : "",
      v.double.length > 0 ? `double: ${v.double.slice(0, 10).join(" ")}` : "",
      v.stale.length > 0 ? `stale: ${v.stale.slice(0, 10).join(" ")}` : "",
      ...r.notes
    ].filter((s) => s !== "")
    if (detail.length > 0) console.log(`${r.fault} on ${r.backend}: ${detail.join("; ")}`)
  }
  const full = values.n === undefined && values.faults === undefined && values.backend === "both" && !values["no-docs"]
  if (full) {
    const machine = [
      `${cpus().length} cores (${cpus()[0]?.model ?? "unknown"}), node ${process.version}`,
      versionOf("redis-server", ["--version"]).replace(/ sha=.*$/, ""),
      versionOf(existsSyncNats(), ["--version"])
    ]
    const doc = reliabilityDoc({ rows, settings, seed, machine, minutes, markdown })
    writeFileSync(fileURLToPath(new URL("../docs/reliability.md", import.meta.url)), doc)
    console.log("wrote docs/reliability.md")
  }
  process.exit(rows.every((r) => r.ok) ? 0 : 1)
}

const existsSyncNats = () => {
  try {
    execFileSync("/usr/sbin/nats-server", ["--version"])
    return "/usr/sbin/nats-server"
  } catch {
    return "nats-server"
  }
}

const reliabilityDoc = (o: {
  readonly rows: ReadonlyArray<Row>
  readonly settings: Settings
  readonly seed: number
  readonly machine: ReadonlyArray<string>
  readonly minutes: string
  readonly markdown: string
}) => `# Reliability

Written by \`npm run chaos\` (chaos/run.ts) after its last full run; edit the text in
chaos/run.ts, not here.

The fault suite runs each fault against real servers it starts itself (redis-server with AOF
\`appendfsync always\`, nats-server with JetStream on a file store), with worker *processes*
that reach the server through an in-process TCP proxy, through the public API only. A ledger
outside the system under test (one append-only file per worker process) records every handler
start and finish (job id, pid, attempt) and every \`onSuccess\`; after each fault the suite waits
until every job is terminal (statuses read through the Server API) and checks:

- **lost**: accepted by an enqueue, never successful nor failed for good nor dead-lettered. Must be 0.
- **double**: \`onSuccess\` ran more than once for a job. Must be 0.
- **stale**: the stored result (the handler returns its pid and attempt) comes from an attempt
  older than another attempt that also finished. Must be 0.
- **extra**: handler runs beyond one per job (and beyond the runs that fail on purpose); must not
  exceed **in flight**, the jobs whose attempts were running during the fault.
- **recovery**: from the fault's end until every job it caught is successful and the success
  rate is back to half of what it was before the fault.

\`npm run chaos -- --self-test\` (and test/chaos.test.ts in \`npm test\`) feed the checker a
synthetic ledger with a lost job, a double success, a stale win and extra runs, and assert each
is reported.

## Latest full run

- machine: ${o.machine.join("; ")}
- settings: N = ${o.settings.n} jobs per fault (the seeded schedule: ${o.settings.n * 2}), ${o.settings.workers} worker processes × concurrency ${o.settings.concurrency}, handler ${o.settings.handlerMs} ms, visibility timeout ${o.settings.visibilityMs} ms (worker-stop-slow: 60 jobs, handler 2500 ms)
- seed ${o.seed} (replay: \`npm run chaos -- --seed ${o.seed}\`), ${o.minutes} minutes

${o.markdown}

${o.rows.filter((r) => r.notes.length > 0 || !r.ok).map((r) => `- ${r.fault} on ${r.backend}: ${[
  r.verdict.double.length > 0 ? `double ${r.verdict.double.slice(0, 8).join(" ")}` : "",
  r.verdict.stale.length > 0 ? `stale ${r.verdict.stale.slice(0, 8).join(" ")}` : "",
  r.verdict.lost.length > 0 ? `lost ${r.verdict.lost.length}` : "",
  ...r.notes
].filter((s) => s !== "").join("; ")}`).join("\n")}

## The faults

${Faults.all.map((f) => `- **${f.name}**${f.backends === undefined ? "" : ` (${f.backends.join(", ")})`}: ${f.description}`).join("\n")}
- **random-S**: a seeded schedule of worker kill/stop/term, server kill/stop, proxy reset/stall/latency faults over one run of 2 × N jobs

\`redis-no-persist\` loses data by construction (the data files are deleted): it passes when the
library logged the loss ("Redis lost its data" / "lost the data of queue"), never silently.
`

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
