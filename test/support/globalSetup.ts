import { execFileSync } from "node:child_process"

// Resolves (and if need be installs) nats-server once, so each test file starts at once;
// rebuilds dist/herald.js if a source changed, so Herald processes that tests start (through
// scripts/start.sh) run the current code without each building it.
export default function setup() {
  execFileSync("bash", ["scripts/start.sh", "--build"], { stdio: "inherit" })
  const path = execFileSync("bash", ["scripts/nats-server.sh", "--quiet"], { encoding: "utf8" }).trim()
  process.env["NATS_SERVER_BIN"] = path
}
