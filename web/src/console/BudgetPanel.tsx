import { useState } from "react";
import type { AdminApi } from "../api/admin";
import { ApiError } from "../api/errors";
import type { Budget } from "../api/types";
import { ConfirmDialog } from "../learner/Sessions";
import { day, percent, usd, when } from "../ui/format";
import { Notice } from "../ui/Notice";
import { RUNBOOK, RunbookLink } from "./runbook";
import { usePoll } from "./usePoll";

const STATE_TEXT: Record<Budget["state"], { label: string; help: string }> = {
  CLOSED: { label: "CLOSED", help: "Normal: every request is admitted." },
  HALF_OPEN: { label: "HALF_OPEN", help: "Past the alert threshold: premium requests are downgraded to cheaper models." },
  OPEN: { label: "OPEN", help: "Past the block threshold: new tutor replies are refused until the budget resets." },
  UNSPECIFIED: { label: "UNKNOWN", help: "The router did not report a state." },
};

export function operatorError(e: unknown): string {
  if (e instanceof ApiError) return `${e.message}${e.requestId ? ` (request ${e.requestId})` : ""}`;
  return String(e);
}

export function BudgetPanel({ admin, tick, onLoaded }: { admin: AdminApi; tick: number; onLoaded: () => void }) {
  const { value: budget, error, reload } = usePoll(() => admin.budget(), tick, onLoaded);
  const [confirm, setConfirm] = useState(false);
  const [reason, setReason] = useState("");
  const [result, setResult] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  const reset = async () => {
    setConfirm(false);
    setFailure(null);
    try {
      const r = await admin.resetBudget(reason.trim());
      setResult(`Budget reset by ${r.actor}: spent went from ${usd(r.before?.spent_micro_usd ?? 0)} to ${usd(r.after?.spent_micro_usd ?? 0)}.`);
      setReason("");
      reload();
    } catch (e) {
      setFailure(operatorError(e));
    }
  };

  if (error && !budget) return <Notice kind="error" action={<button type="button" onClick={reload}>Try again</button>}>{operatorError(error)}</Notice>;
  if (!budget) return <p className="muted" aria-busy="true">Loading the budget…</p>;

  const state = STATE_TEXT[budget.state] ?? STATE_TEXT.UNSPECIFIED;
  const limit = Math.max(1, budget.limit_micro_usd);
  const spentPct = Math.min(100, (budget.spent_micro_usd / limit) * 100);
  const reservedPct = Math.min(100 - spentPct, (budget.reserved_micro_usd / limit) * 100);
  return (
    <div className="panel-grid">
      {error ? <Notice kind="warning">Refresh failed: {operatorError(error)} — showing the last values.</Notice> : null}
      <div className="card budget-card">
        <div className="budget-top">
          <h2>Monthly budget</h2>
          <span className={`state state-${budget.state.toLowerCase()}`} data-testid="budget-state">{state.label}</span>
        </div>
        <p className="muted">{state.help}</p>
        <div className="big-number" data-testid="budget-spent">
          {usd(budget.spent_micro_usd)} <span className="muted">of {usd(budget.limit_micro_usd)}</span>
        </div>
        <div
          className="gauge"
          role="meter"
          aria-label="Budget used"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(budget.utilisation_bp / 100)}
          aria-valuetext={`${percent(budget.utilisation_bp)} used`}
        >
          <svg viewBox="0 0 100 12" preserveAspectRatio="none" aria-hidden="true">
            <rect x="0" y="2" width="100" height="8" rx="4" className="gauge-track" />
            <rect x="0" y="2" width={spentPct} height="8" className={`gauge-spent gauge-${budget.state.toLowerCase()}`} />
            <rect x={spentPct} y="2" width={reservedPct} height="8" className="gauge-reserved" />
            <line x1={budget.alert_threshold_bp / 100} x2={budget.alert_threshold_bp / 100} y1="0" y2="12" className="tick tick-alert" />
            <line x1={budget.block_threshold_bp / 100} x2={budget.block_threshold_bp / 100} y1="0" y2="12" className="tick tick-block" />
          </svg>
          <div className="gauge-legend small">
            <span><i className="swatch spent" /> spent</span>
            <span><i className="swatch reserved" /> reserved (in flight)</span>
            <span><i className="swatch alert" /> {percent(budget.alert_threshold_bp)} downgrade</span>
            <span><i className="swatch block" /> {percent(budget.block_threshold_bp)} block</span>
          </div>
        </div>
        <dl className="facts">
          <div><dt>Used</dt><dd>{percent(budget.utilisation_bp)}</dd></div>
          <div><dt>Spent</dt><dd>{usd(budget.spent_micro_usd)}</dd></div>
          <div><dt>Reserved</dt><dd>{usd(budget.reserved_micro_usd)}</dd></div>
          <div><dt>Limit</dt><dd>{usd(budget.limit_micro_usd)}</dd></div>
          <div><dt>Period</dt><dd>{day(budget.period_start)} – {day(budget.next_reset)}</dd></div>
          <div><dt>Resets</dt><dd>{when(budget.next_reset)}</dd></div>
          <div><dt>Window since</dt><dd>{when(budget.window_start)}</dd></div>
          <div><dt>Downgrade</dt><dd>{budget.downgrade_enabled ? "on" : "off"}</dd></div>
          <div><dt>State store</dt><dd>{budget.store}</dd></div>
        </dl>
      </div>
      <div className="card">
        <h2>Actions</h2>
        <p className="muted">Resetting starts a new budget window now. It is audited with your name and reason.</p>
        <button type="button" className="danger" onClick={() => setConfirm(true)}>Reset budget…</button>
        {result && <Notice kind="info">{result}</Notice>}
        {failure && <Notice kind="error">{failure}</Notice>}
        <h3>Runbook</h3>
        <ul className="links">
          <li><RunbookLink entry={RUNBOOK.budgetCheck} /></li>
          {budget.state === "HALF_OPEN" && <li><RunbookLink entry={RUNBOOK.budgetHalfOpen} /></li>}
          {budget.state === "OPEN" && <li><RunbookLink entry={RUNBOOK.budgetOpen} /></li>}
          <li><RunbookLink entry={RUNBOOK.budgetReset} /></li>
        </ul>
      </div>
      {confirm && (
        <ConfirmDialog
          title="Reset the monthly budget?"
          body={`Spent (${usd(budget.spent_micro_usd)}) starts again from zero and blocked requests are admitted again.`}
          confirm="Reset budget"
          onCancel={() => setConfirm(false)}
          onConfirm={() => void reset()}
        >
          <label htmlFor="reset-reason">Reason (recorded in the audit log)</label>
          <input id="reset-reason" value={reason} onChange={(e) => setReason(e.target.value)} placeholder="e.g. finance approved extra spend" />
        </ConfirmDialog>
      )}
    </div>
  );
}
