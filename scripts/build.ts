import { existsSync } from "node:fs"
import { mkdir, mkdtemp, readFile, rename, rm, utimes, writeFile } from "node:fs/promises"
import { join, relative, resolve, sep } from "node:path"
import { build } from "esbuild"

// Bundles Herald (services/start.ts and every module and package it imports) into one
// ES module, dist/herald.js, so that `npm start` compiles no TypeScript and loads one file.
// Run by `npm install` (prepare), `npm run build`, and scripts/start.sh when a source is
// newer than the bundle. dist/herald.inputs lists what the bundle was built from, for that
// check. Builds running at once (several tests starting Herald) each write a private folder
// and rename its files into place, so a reader never sees half a file.

const root = resolve(import.meta.dirname, "..")
const dist = join(root, "dist")

// Installed packages keep their tarball's mtimes, so an upgrade shows only in these files.
const alwaysInputs = ["package.json", "package-lock.json", "node_modules/.package-lock.json", "scripts/build.ts"]

const startedAt = new Date()
await mkdir(dist, { recursive: true })
const work = await mkdtemp(join(dist, ".build-"))
try {
  const result = await build({
    absWorkingDir: root,
    entryPoints: ["services/start.ts"],
    outfile: join(work, "herald.js"),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: "linked",
    metafile: true,
    logLevel: "warning",
    // `ws` loads these optional native add-ons when they are installed; it runs without.
    external: ["bufferutil", "utf-8-validate"],
    // Bundled CommonJS packages call require() for Node's built-ins.
    banner: { js: `import { createRequire as __heraldRequire } from "node:module";\nconst require = __heraldRequire(import.meta.url);` }
  })
  const sources = Object.keys(result.metafile.inputs).filter((p) => !p.split(/[\\/]/).includes("node_modules"))
  // The bundle runs from dist/, one folder below the root like services/ and infra/, so a
  // path built from import.meta.dirname means the same there only in a top-level folder.
  for (const file of sources) {
    const depth = relative(root, resolve(root, file)).split(sep).length - 1
    if (depth !== 1 && (await readFile(join(root, file), "utf8")).includes("import.meta.")) {
      throw new Error(`${file} uses import.meta but is not one folder below the root: its paths would be wrong in dist/herald.js`)
    }
  }
  // Only files that exist: a missing input marks the bundle stale (a source was deleted).
  const inputs = [...alwaysInputs.filter((f) => existsSync(join(root, f))), ...sources]
  await writeFile(join(work, "herald.inputs"), inputs.join("\n") + "\n")
  for (const name of ["herald.js.map", "herald.inputs", "herald.js"]) {
    // Stamped with the build's start: a source saved while esbuild ran still counts as newer.
    await utimes(join(work, name), startedAt, startedAt)
    await rename(join(work, name), join(dist, name))
  }
  console.error(`built dist/herald.js from ${sources.length} sources in ${Date.now() - startedAt.getTime()} ms`)
} finally {
  await rm(work, { recursive: true, force: true })
}
