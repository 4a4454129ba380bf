import type { ApiClient } from "./client";
import type { Budget, Provider, UsageSummary } from "./types";

/** The operator's API (`/api/v1/admin/*`). */
export class AdminApi {
  constructor(private readonly api: ApiClient) {}

  budget(): Promise<Budget | null> {
    return this.api.get<{ budget: Budget | null }>("/api/v1/admin/budget").then((r) => r.budget);
  }

  resetBudget(reason: string): Promise<{ before: Budget | null; after: Budget | null; actor: string }> {
    return this.api.post("/api/v1/admin/budget/reset", { reason });
  }

  providers(): Promise<{ providers: Provider[]; override_provider: string | null }> {
    return this.api.get("/api/v1/admin/providers");
  }

  pin(provider: string, reason: string): Promise<unknown> {
    return this.api.put("/api/v1/admin/providers/override", { provider, reason });
  }

  unpin(): Promise<unknown> {
    return this.api.delete("/api/v1/admin/providers/override");
  }

  /** Month-to-date usage grouped by `groupBy` (e.g. "provider,model" or "day"). */
  summary(groupBy: string): Promise<UsageSummary> {
    return this.api.get<UsageSummary>(`/api/v1/admin/usage/summary?group_by=${encodeURIComponent(groupBy)}`);
  }
}
