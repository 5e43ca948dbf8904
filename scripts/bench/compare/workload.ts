import { ulid } from "ulid"
import { pooledRandom } from "../../../infra/Publisher.js"

// The one workload every compared system carries: agent_thinking events of ~600 bytes of
// JSON, one user per client, `payload.step_number` the user's counter 1, 2, 3… that the
// ledger checks each client against.

const THOUGHT =
  "Comparing spend across regions before answering: eu-west is up 18% since the storage migration, " +
  "us-east is flat, ap-south dropped after the reserved instances renewed. Next I will break eu-west down " +
  "by service and month, check whether the new object-storage tier explains the rise, and draft a short " +
  "answer with the three largest line items."

// ulid's default source asks the OS for every character; Herald's publisher pools it too.
const random = pooledRandom()

/** An agent_thinking envelope as Herald stores it (~600 bytes of JSON); step_number is the user's counter. */
export const envelope = (userId: string, n: number) => ({
  id: ulid(undefined, random), type: "agent_thinking", user_id: userId, thread_id: "t-1", run_id: `r-${userId}`, agent_name: "triage",
  timestamp: new Date().toISOString(), priority: "normal",
  payload: { thought: THOUGHT, step_number: n, progress_percentage: n % 101 }
})

/** The same event as Herald's publisher library takes it: context and payload. */
export const draftOf = (userId: string, n: number) => ({
  context: { user_id: userId, thread_id: "t-1", run_id: `r-${userId}`, agent_name: "triage" },
  payload: { thought: THOUGHT, step_number: n, progress_percentage: n % 101 }
})

/** The NATS subject Herald stores a user's events under. */
export const subjectOf = (userId: string) => `notify.${userId}.t-1.r-${userId}`
