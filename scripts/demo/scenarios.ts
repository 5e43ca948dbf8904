// What the demo agents are asked to do: a request, the tools they call in order (with
// arguments and a plausible result), what they think between calls, and their answer.
// Plain data; scripts/demo/plan.ts turns it into events.

export interface ToolCall {
  readonly name: string
  readonly args: Record<string, unknown>
  readonly result: unknown
  /** Typical duration in ms; the planner varies it. */
  readonly ms: number
}

export interface Scenario {
  readonly agent: string
  readonly workflow: string
  readonly request: string
  /** One thought before each tool call. */
  readonly thoughts: ReadonlyArray<string>
  /** The last thought, once every tool has answered. */
  readonly wrapUp: string
  readonly tools: ReadonlyArray<ToolCall>
  readonly answer: string
}

/** How each tool fails when the dice say so. */
export const TOOL_ERRORS: Readonly<Record<string, string>> = {
  web_search: "search provider rate limit exceeded (HTTP 429), retry after 30 s",
  sql_query: "canceling statement due to statement timeout (30000 ms)",
  data_analyzer: "dataset has no numeric column to aggregate",
  send_email: "mail relay rejected the recipient list (550)",
  calendar_lookup: "calendar API token expired",
  create_event: "slot already taken by another booking",
  log_search: "log index unavailable, shard 3 is recovering",
  code_interpreter: "sandbox exceeded its memory limit (512 MiB)"
}

export const SCENARIOS: ReadonlyArray<Scenario> = [
  {
    agent: "researcher", workflow: "market-research",
    request: "Find recent benchmarks comparing vector databases and summarise the trade-offs",
    thoughts: ["Searching for benchmark reports from the last 12 months", "Extracting recall and latency figures from the reports"],
    wrapUp: "Comparing the results and writing the summary",
    tools: [
      { name: "web_search", args: { query: "vector database benchmark recall latency 2026", max_results: 8 }, result: { hits: 8, kept: 5 }, ms: 1400 },
      { name: "data_analyzer", args: { dataset: "search_results", operation: "extract_metrics", metrics: ["recall@10", "p99_ms"] }, result: { systems: 5, metrics: 10 }, ms: 2200 }
    ],
    answer: "Five systems compared: HNSW-based engines lead on recall, IVF-PQ on memory use."
  },
  {
    agent: "analyst", workflow: "cost-review",
    request: "Why did our cloud costs jump in March?",
    thoughts: ["Pulling March and February billing by region", "Looking for the regions and services behind the increase"],
    wrapUp: "Explaining the jump in plain words",
    tools: [
      { name: "sql_query", args: { database: "finance", query: "SELECT region, service, sum(cost_usd) FROM billing WHERE month IN ('2026-02','2026-03') GROUP BY 1, 2" }, result: { rows: 42 }, ms: 900 },
      { name: "data_analyzer", args: { dataset: "billing_by_region", analysis: "month_over_month" }, result: { largest_increase: { region: "eu-west", service: "gpu", delta_pct: 38.2 } }, ms: 1600 }
    ],
    answer: "Costs rose 21 %: GPU hours in eu-west grew 38 % after the new training jobs started."
  },
  {
    agent: "triage", workflow: "weekly-support-digest",
    request: "Summarise this week's support tickets and email the digest to the support leads",
    thoughts: ["Fetching this week's tickets", "Grouping tickets by topic and urgency", "Drafting the digest email"],
    wrapUp: "Summarising the week for the thread",
    tools: [
      { name: "sql_query", args: { database: "support", query: "SELECT id, subject, priority FROM tickets WHERE created_at > now() - interval '7 days'" }, result: { rows: 318 }, ms: 700 },
      { name: "data_analyzer", args: { dataset: "tickets_7d", analysis: "cluster_topics", k: 6 }, result: { clusters: ["login", "billing", "export", "api-limits", "ui", "other"] }, ms: 2600 },
      { name: "send_email", args: { to: ["support-leads"], subject: "Support digest, week 12", attachments: 1 }, result: { message_id: "msg-8842", accepted: 4 }, ms: 500 }
    ],
    answer: "318 tickets, mostly login (31 %) and billing (22 %); digest sent to 4 support leads."
  },
  {
    agent: "assistant", workflow: "meeting-scheduler",
    request: "Book a 30-minute sync with Dana and Lee next week",
    thoughts: ["Checking everyone's calendars for next week", "Picking the earliest common slot", "Sending the invitation"],
    wrapUp: "Confirming the booking",
    tools: [
      { name: "calendar_lookup", args: { attendees: ["dana", "lee"], window: "next_week", duration_min: 30 }, result: { free_slots: 4, earliest: "Tue 10:30" }, ms: 800 },
      { name: "create_event", args: { title: "Sync with Dana and Lee", start: "2026-03-24T10:30:00Z", duration_min: 30 }, result: { event_id: "evt-5521" }, ms: 400 },
      { name: "send_email", args: { to: ["dana", "lee"], subject: "Invitation: sync on Tuesday 10:30" }, result: { accepted: 2 }, ms: 450 }
    ],
    answer: "Booked Tuesday 10:30–11:00 with Dana and Lee; invitations sent."
  },
  {
    agent: "oncall", workflow: "incident-review",
    request: "Find out why last night's export job failed",
    thoughts: ["Searching the export job's error logs from the last 24 hours", "Reproducing the failing step on a sample"],
    wrapUp: "Writing up the cause and a fix",
    tools: [
      { name: "log_search", args: { service: "export-job", level: "error", since: "24h" }, result: { matches: 12, first: "TimeoutError: upstream read timed out after 60 s" }, ms: 1100 },
      { name: "code_interpreter", args: { language: "python", code: "run_export(sample=1000, timeout_s=60)" }, result: { stdout: "exported 1000 rows in 71.4 s", exit_code: 0 }, ms: 3000 }
    ],
    answer: "The export now takes 71 s on a sample, over the 60 s upstream timeout; raise it or paginate."
  }
]
