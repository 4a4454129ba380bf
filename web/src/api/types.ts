// The gateway's JSON shapes (see /openapi.json), as far as the app reads them.

export type Level = "A1" | "A2" | "B1" | "B2" | "C1" | "C2";
export const LEVELS: Level[] = ["A1", "A2", "B1", "B2", "C1", "C2"];

export interface Scenario {
  id: string;
  title: string;
  description: string;
  category: string;
  tutor_role: string;
  goals: string[];
  opening_line: string;
}

export interface Session {
  id: string;
  scenario_id: string;
  level: Level | null;
  title: string;
  created_at: string | null;
  updated_at: string | null;
  archived: boolean;
  message_count: number;
}

export interface Message {
  id: string;
  session_id: string;
  role: "learner" | "tutor" | "unspecified";
  content: string;
  status: "completed" | "pending" | "failed" | "partial" | "unspecified";
  cost_micro_usd: number;
  provider: string | null;
  model: string | null;
  created_at: string | null;
  client_message_id: string | null;
}

export interface Profile {
  learner_id: string;
  display_name: string;
  level: Level | null;
  native_language: string;
}

export interface ErrorDetail {
  code: string;
  message: string;
  request_id: string;
}

export interface Budget {
  limit_micro_usd: number;
  limit_usd: string;
  spent_micro_usd: number;
  spent_usd: string;
  reserved_micro_usd: number;
  reserved_usd: string;
  utilisation_bp: number;
  state: "CLOSED" | "HALF_OPEN" | "OPEN" | "UNSPECIFIED";
  period_start: string | null;
  next_reset: string | null;
  window_start: string | null;
  alert_threshold_bp: number;
  block_threshold_bp: number;
  downgrade_enabled: boolean;
  store: string;
}

export interface Provider {
  name: string;
  configured: boolean;
  breaker_state: string;
  consecutive_failures: number;
  last_error: string | null;
  last_failure_at: string | null;
  recent_latency_ms: number;
  retry_at: string | null;
  priority: number;
  base_url: string | null;
}

export interface UsageRow {
  provider: string | null;
  model: string | null;
  user_id: string | null;
  day: string | null;
  input_tokens: number;
  output_tokens: number;
  cost_micro_usd: number;
  cost_usd: string;
  request_count: number;
}

export interface UsageSummary {
  period_start: string | null;
  period_end: string | null;
  rows: UsageRow[];
  total: UsageRow | null;
}

export interface WebConfig {
  development_sign_in: boolean;
  oidc: { authority: string; client_id: string; scope: string } | null;
  /** Where docs/RUNBOOK.md is published, for the console's links (WEB_RUNBOOK_URL). */
  runbook_url: string | null;
}
