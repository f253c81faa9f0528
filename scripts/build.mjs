// Builds what the package ships, laid out like Effect's own packages:
//   dist/esm  ES modules (+ source maps), from tsconfig.build.json
//   dist/dts  their declarations (+ declaration maps), ES-module typed: the `import` condition
//   dist/cjs  CommonJS (+ source maps, and a package.json saying so), from tsconfig.build.cjs.json,
//             with a copy of the declarations: typed as CommonJS there, for the `require` condition
// tsc alone: one output file per source module, nothing bundled.
import { execFileSync } from "node:child_process"
import { cpSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const dist = join(root, "dist")
const tsc = (project) =>
  execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, project)], { stdio: "inherit" })

rmSync(dist, { recursive: true, force: true })
tsc("tsconfig.build.json")
tsc("tsconfig.build.cjs.json")
writeFileSync(join(dist, "cjs/package.json"), JSON.stringify({ type: "commonjs", sideEffects: [] }, null, 2) + "\n")
// same relative depth under dist/cjs as under dist/dts, so the declaration maps still point at src/
for (const file of readdirSync(join(dist, "dts"), { recursive: true })) {
  if (file.endsWith(".d.ts") || file.endsWith(".d.ts.map")) cpSync(join(dist, "dts", file), join(dist, "cjs", file))
}
