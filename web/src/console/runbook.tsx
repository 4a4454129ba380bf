// The runbook sections an operator needs for each state (docs/RUNBOOK.md).
import { webConfig } from "../auth/session";

export const RUNBOOK = {
  budgetCheck: { section: "9.1 Checking the budget", anchor: "91-checking-the-budget" },
  budgetReset: { section: "9.2 Resetting the budget", anchor: "92-resetting-the-budget" },
  budgetHalfOpen: { section: "LlmBudgetHalfOpen", anchor: "llmbudgethalfopen" },
  budgetOpen: { section: "8.4 Budget exceeded: requests blocked", anchor: "84-budget-exceeded-requests-blocked" },
  providerIncident: { section: "8.2 LLM provider incident", anchor: "82-llm-provider-incident" },
  allProviders: { section: "8.3 All providers failed", anchor: "83-all-providers-failed" },
  breakerOpen: { section: "LlmProviderBreakerOpen", anchor: "llmproviderbreakeropen" },
  monthlyCost: { section: "11.3 Monthly LLM cost", anchor: "113-monthly-llm-cost" },
} as const;

export function RunbookLink({ entry }: { entry: { section: string; anchor: string } }) {
  const base = webConfig()?.runbook_url;
  if (!base) {
    return (
      <span className="runbook">
        Runbook: <code>docs/RUNBOOK.md</code> § {entry.section}
      </span>
    );
  }
  return (
    <a className="runbook" href={`${base}#${entry.anchor}`} target="_blank" rel="noopener noreferrer">
      Runbook § {entry.section}
    </a>
  );
}
