import type { AdminApi } from "../api/admin";
import { usd } from "../ui/format";
import { Notice } from "../ui/Notice";
import { operatorError } from "./BudgetPanel";
import { BarChart, ColumnChart, type Point } from "./charts";
import type { UsageRow } from "../api/types";
import { RUNBOOK, RunbookLink } from "./runbook";
import { usePoll } from "./usePoll";

export function CostsPanel({ admin, tick, onLoaded }: { admin: AdminApi; tick: number; onLoaded: () => void }) {
  const { value, error, reload } = usePoll(() => Promise.all([admin.summary("provider,model"), admin.summary("day")]), tick, onLoaded);
  if (error && !value) return <Notice kind="error" action={<button type="button" onClick={reload}>Try again</button>}>{operatorError(error)}</Notice>;
  if (!value) return <p className="muted" aria-busy="true">Loading costs…</p>;
  const [byModel, byDay] = value;
  const rows = [...byModel.rows].sort((a, b) => b.cost_micro_usd - a.cost_micro_usd);
  const days = [...byDay.rows].sort((a, b) => (a.day ?? "").localeCompare(b.day ?? ""));
  const chartDays = monthSoFar(byDay.period_start, days);
  const total = byModel.total;
  return (
    <div className="panel-grid">
      <div className="card">
        <h2>Month to date by provider and model</h2>
        <p className="big-number" data-testid="month-total">{usd(total?.cost_micro_usd ?? 0)} <span className="muted small">{total?.request_count ?? 0} requests</span></p>
        {rows.length === 0 ? (
          <p className="muted">No usage this month yet.</p>
        ) : (
          <>
            <BarChart title="Cost by provider and model" bars={rows.map((r) => ({ label: `${r.provider ?? "?"} · ${r.model ?? "?"}`, value: r.cost_micro_usd, text: usd(r.cost_micro_usd) }))} />
            <div className="table-wrap">
              <table>
                <caption className="sr-only">Month-to-date cost by provider and model</caption>
                <thead>
                  <tr><th scope="col">Provider</th><th scope="col">Model</th><th scope="col" className="num">Requests</th><th scope="col" className="num">Tokens in / out</th><th scope="col" className="num">Cost</th></tr>
                </thead>
                <tbody>
                  {rows.map((r) => (
                    <tr key={`${r.provider}/${r.model}`}>
                      <td>{r.provider}</td><td>{r.model}</td><td className="num">{r.request_count}</td>
                      <td className="num">{r.input_tokens.toLocaleString("en-US")} / {r.output_tokens.toLocaleString("en-US")}</td>
                      <td className="num">{usd(r.cost_micro_usd)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
      </div>
      <div className="card">
        <h2>Spend per day</h2>
        {days.length === 0 ? (
          <p className="muted">No spend recorded this month.</p>
        ) : (
          <>
            <ColumnChart title="Spend per day this month" points={chartDays} />
            <div className="table-wrap">
              <table>
                <caption className="sr-only">Spend per day</caption>
                <thead><tr><th scope="col">Day</th><th scope="col" className="num">Requests</th><th scope="col" className="num">Cost</th></tr></thead>
                <tbody>
                  {days.map((d) => (
                    <tr key={d.day}><td>{d.day}</td><td className="num">{d.request_count}</td><td className="num">{usd(d.cost_micro_usd)}</td></tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
        <p><RunbookLink entry={RUNBOOK.monthlyCost} /></p>
      </div>
    </div>
  );
}

/** Every day from the period's start to today, zero where nothing was spent. */
function monthSoFar(periodStart: string | null, rows: UsageRow[]): Point[] {
  const spent = new Map(rows.map((r) => [(r.day ?? "").slice(0, 10), r.cost_micro_usd]));
  const start = periodStart ? new Date(periodStart) : new Date();
  const today = new Date();
  const points: Point[] = [];
  for (let d = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate())); d <= today && points.length < 31; d.setUTCDate(d.getUTCDate() + 1)) {
    const key = d.toISOString().slice(0, 10);
    const value = spent.get(key) ?? 0;
    points.push({ label: key.slice(8), value, text: usd(value) });
  }
  return points;
}
