// Checks the package as a user gets it: packs the repo (after `npm run build`), lints the
// tarball with publint and @arethetypeswrong/cli, installs it with effect 3 into a fresh project
// without ioredis, the @nats-io packages or @types/node, and there
//   - checks `npm ls effect` finds one copy of effect,
//   - runs test/package/consumer/main.mjs and main.cjs under plain node (a job on the Memory layer),
//   - runs missing.mjs and missing.cjs (the Redis and NATS layers without their clients),
//   - runs the `tasqueue` bin through npx: --help, and --redis without ioredis (a clear error),
//   - adds @effect/platform and runs dashboard.mjs and dashboard.cjs (tasqueue/dashboard),
//   - type-checks consumer.ts (and consumer.cts) with tsc --strict, lib ES2022, skipLibCheck off,
//     under moduleResolution NodeNext and Bundler.
// Independent steps run side by side; the check exits non-zero with every failure it met.
// `--keep` leaves the temporary project for a look (a failed check always does).
import { execFile } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const fixtures = join(root, "test/package/consumer")
const bin = (name) => join(root, "node_modules/.bin", name)
const versionOf = (name) => JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version
const keep = process.argv.includes("--keep")
const started = Date.now()

/** runs a command, resolving with its stdout; rejects with its output when it fails */
const run = (command, args, cwd) =>
  new Promise((resolve, reject) =>
    execFile(command, args, { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      error
        ? reject(new Error(`${[command, ...args].join(" ")} failed in ${cwd}:\n${stdout}${stderr}`))
        : resolve(stdout)))
const step = async (name, f) => {
  const t = Date.now()
  try {
    await f()
  } catch (e) {
    console.log(`FAIL ${name}`)
    throw e
  }
  console.log(`ok  ${name} (${((Date.now() - t) / 1000).toFixed(1)} s)`)
}
/** waits for all, then fails with every failure's message */
const all = async (promises) => {
  const failures = (await Promise.allSettled(promises)).filter((r) => r.status === "rejected")
  if (failures.length > 0) throw new Error(failures.map((r) => r.reason.message).join("\n\n"))
}
const expectOutput = (actual, expected, what) => {
  if (actual.trim() !== expected.trim()) {
    throw new Error(`${what}: expected\n${expected.trim()}\ngot\n${actual.trim()}`)
  }
}

/**
 * tsc over the consumer files: every error fails the check except those inside effect's own
 * declarations, which need `URL`, `AbortSignal` and `ReadableStream` from lib DOM or
 * @types/node (effect's requirement, not ours); the point is that tasqueue's declarations
 * need nothing beyond ES2022: no @types/node, ioredis or @nats-io types.
 */
const typecheck = async (app, name, options, files) => {
  const config = `tsconfig.${name}.json`
  const compilerOptions = { strict: true, skipLibCheck: false, noEmit: true, target: "ES2022", lib: ["ES2022"], ...options }
  writeFileSync(join(app, config), JSON.stringify({ compilerOptions, files }, null, 2))
  const output = await run(bin("tsc"), ["-p", config], app).then(() => "", (e) => e.message)
  const errors = output.split("\n").filter((line) => /error TS\d+/.test(line))
  const ours = errors.filter((line) => !line.startsWith("node_modules/effect/"))
  if (ours.length > 0 || (errors.length === 0 && output !== "")) throw new Error(output)
}

const natsMessage = "tasqueue/layers/Nats needs @nats-io/transport-node, @nats-io/jetstream, @nats-io/kv: " +
  "npm i @nats-io/transport-node @nats-io/jetstream @nats-io/kv"

const dir = mkdtempSync(join(tmpdir(), "tasqueue-package-"))
const app = join(dir, "app")
let failed = false
try {
  let tarball = ""
  await step("npm pack", async () => {
    const [packed] = JSON.parse(await run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], root))
    tarball = join(dir, packed.filename)
    const files = packed.files.map((f) => f.path)
    for (const f of ["LICENSE", "README.md", "package.json", "dist/esm/index.js", "dist/cjs/index.js", "dist/cjs/package.json", "dist/dts/index.d.ts"]) {
      if (!files.includes(f)) throw new Error(`the tarball lacks ${f}`)
    }
    const stray = files.filter((f) => !/^(dist|docs)\/|^(LICENSE|README\.md|package\.json)$/.test(f))
    if (stray.length > 0) throw new Error(`the tarball holds files outside the whitelist: ${stray.join(", ")}`)
  })
  const lint = all([
    step("publint --strict", () => run(bin("publint"), ["run", "--strict", tarball], root)),
    step("attw (profile strict: node10, node16 from CJS and ESM, bundler)", () => run(bin("attw"), ["--format", "ascii", tarball], root))
  ])
  const consumer = (async () => {
    await step(`install the tarball with effect@${versionOf("effect")}`, async () => {
      cpSync(fixtures, app, { recursive: true })
      writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }, null, 2))
      await run("npm", [
        "install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts",
        tarball, `effect@${versionOf("effect")}`
      ], app)
      for (const absent of ["@types/node", "ioredis", "@nats-io/transport-node", "@nats-io/jetstream", "@nats-io/kv"]) {
        if (existsSync(join(app, "node_modules", absent))) throw new Error(`${absent} should not be installed in the consumer`)
      }
    })
    await step("npm ls effect: one copy", async () => {
      const copies = new Set((await run("npm", ["ls", "effect", "--all", "--parseable"], app)).split("\n").filter(Boolean))
      if (copies.size !== 1) throw new Error(`expected one copy of effect, found:\n${[...copies].join("\n")}`)
    })
    await all([
      step("node main.mjs", async () => expectOutput(await run("node", ["main.mjs"], app), "esm: successful 9", "main.mjs")),
      step("node main.cjs", async () => expectOutput(await run("node", ["main.cjs"], app), "cjs: successful 9", "main.cjs")),
      step("npx tasqueue --help (the bin under plain node)", async () => {
        const help = await run("npx", ["--no-install", "tasqueue", "--help"], app)
        if (!help.includes("USAGE") || !help.includes("jobs list")) throw new Error(`unexpected help:\n${help}`)
      }),
      step("npx tasqueue --redis without ioredis: a clear error, exit code 1", async () => {
        const failure = await run("npx", ["--no-install", "tasqueue", "--redis", "redis://127.0.0.1:1", "queues"], app).then(
          (out) => { throw new Error(`expected a failure, got:\n${out}`) },
          (e) => e.message
        )
        if (!failure.includes("error: tasqueue/layers/Redis needs ioredis: npm i ioredis")) throw new Error(failure)
      }),
      ...[["missing.mjs", "esm"], ["missing.cjs", "cjs"]].map(([file, format]) =>
        step(`node ${file} (the Redis and NATS layers without their clients)`, async () =>
          expectOutput(
            await run("node", [file], app),
            `${format}: tasqueue/layers/Redis needs ioredis: npm i ioredis\n${format}: ${natsMessage}`,
            file
          ))
      )
    ])
    // tasqueue/dashboard: with its optional peer @effect/platform added, still one copy of effect
    await step(`install @effect/platform@${versionOf("@effect/platform")} for tasqueue/dashboard`, async () => {
      await run("npm", [
        "install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts",
        `@effect/platform@${versionOf("@effect/platform")}`
      ], app)
      const copies = new Set((await run("npm", ["ls", "effect", "--all", "--parseable"], app)).split("\n").filter(Boolean))
      if (copies.size !== 1) throw new Error(`expected one copy of effect, found:\n${[...copies].join("\n")}`)
    })
    await all([["dashboard.mjs", "esm"], ["dashboard.cjs", "cjs"]].map(([file, format]) =>
      step(`node ${file} (the dashboard's page and API through a web handler)`, async () =>
        expectOutput(await run("node", [file], app), `${format}: dashboard 200 text/html; charset=utf-8 0`, file))
    ))
    await all([
      step("tsc --strict, lib ES2022, moduleResolution NodeNext (consumer.ts, consumer.cts)", () =>
        typecheck(app, "NodeNext", { module: "NodeNext", moduleResolution: "NodeNext" }, ["consumer.ts", "consumer.cts"])),
      step("tsc --strict, lib ES2022, moduleResolution Bundler (consumer.ts)", () =>
        typecheck(app, "Bundler", { module: "ESNext", moduleResolution: "Bundler" }, ["consumer.ts"]))
    ])
  })()
  await all([lint, consumer])
  console.log(`package check passed in ${((Date.now() - started) / 1000).toFixed(1)} s`)
} catch (e) {
  failed = true
  console.error(`package check FAILED: ${e.message}`)
  process.exitCode = 1
} finally {
  if (keep || failed) console.error(`(temporary project left in ${dir})`)
  else rmSync(dir, { recursive: true, force: true })
}
