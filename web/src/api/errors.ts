import type { ErrorDetail } from "./types";

/** What kind of failure, as far as a person using the app cares. */
export type FailureKind =
  | "budget"
  | "rate_limit"
  | "unavailable"
  | "not_found"
  | "signed_out"
  | "forbidden"
  | "invalid"
  | "connection_lost"
  | "timeout"
  | "other";

/** A failed call: the gateway's error body, or a network failure. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string;
  /** Seconds to wait before trying again (the Retry-After header). */
  readonly retryAfter: number | null;

  constructor(status: number, detail: ErrorDetail, retryAfter: number | null = null) {
    super(detail.message);
    this.name = "ApiError";
    this.status = status;
    this.code = detail.code;
    this.requestId = detail.request_id;
    this.retryAfter = retryAfter;
  }

  get kind(): FailureKind {
    // The code tells a budget 429 from a rate-limit 429 (x-error-reason upstream).
    switch (this.code) {
      case "budget_exceeded":
        return "budget";
      case "rate_limited":
        return "rate_limit";
      case "all_providers_failed":
      case "unavailable":
        return "unavailable";
      case "not_found":
        return "not_found";
      case "unauthenticated":
        return "signed_out";
      case "permission_denied":
        return "forbidden";
      case "invalid_argument":
      case "payload_too_large":
        return "invalid";
      case "stream_interrupted":
      case "provider_stream_interrupted":
      case "network":
        return "connection_lost";
      case "deadline_exceeded":
        return "timeout";
    }
    if (this.status === 429) return "rate_limit";
    if (this.status === 503 || this.status === 502) return "unavailable";
    if (this.status === 404) return "not_found";
    if (this.status === 401) return "signed_out";
    return "other";
  }

  static network(message: string): ApiError {
    return new ApiError(0, { code: "network", message, request_id: "" });
  }
}

/** A sentence for a learner: no internal details, and what to do next. */
export function learnerMessage(error: unknown): string {
  if (!(error instanceof ApiError)) return "Something went wrong. Please try again.";
  switch (error.kind) {
    case "budget":
      return "Practice is paused: this month's tutoring budget has been used up. It will be back when the budget resets — your conversations are saved.";
    case "rate_limit": {
      const wait = error.retryAfter ?? 30;
      return `You're sending messages a little fast. Please wait ${wait} second${wait === 1 ? "" : "s"} and try again.`;
    }
    case "unavailable":
      return "The tutor is unavailable right now. Please try again in a few minutes.";
    case "not_found":
      return "We couldn't find that conversation. It may have been deleted, or it belongs to someone else.";
    case "signed_out":
      return "Your sign-in has expired. Please sign in again.";
    case "forbidden":
      return "You don't have access to this page.";
    case "invalid":
      return error.message;
    case "connection_lost":
      return "The connection was lost before the tutor finished. Check your connection and try again.";
    case "timeout":
      return "The tutor took too long to answer. Please try again.";
    default:
      return "Something went wrong on our side. Please try again.";
  }
}
