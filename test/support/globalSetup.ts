import { execFileSync } from "node:child_process"

// Resolves (and if need be installs) nats-server once, so each test file starts at once.
export default function setup() {
  const path = execFileSync("bash", ["scripts/nats-server.sh", "--quiet"], { encoding: "utf8" }).trim()
  process.env["NATS_SERVER_BIN"] = path
}
