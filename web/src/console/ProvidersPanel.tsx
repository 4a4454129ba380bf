import { useState } from "react";
import type { AdminApi } from "../api/admin";
import { when } from "../ui/format";
import { Notice } from "../ui/Notice";
import { operatorError } from "./BudgetPanel";
import { RUNBOOK, RunbookLink } from "./runbook";
import { usePoll } from "./usePoll";

export function ProvidersPanel({ admin, tick, onLoaded }: { admin: AdminApi; tick: number; onLoaded: () => void }) {
  const { value, error, reload } = usePoll(() => admin.providers(), tick, onLoaded);
  const [failure, setFailure] = useState<string | null>(null);

  const change = async (work: () => Promise<unknown>) => {
    setFailure(null);
    try {
      await work();
      reload();
    } catch (e) {
      setFailure(operatorError(e));
    }
  };

  if (error && !value) return <Notice kind="error" action={<button type="button" onClick={reload}>Try again</button>}>{operatorError(error)}</Notice>;
  if (!value) return <p className="muted" aria-busy="true">Loading providers…</p>;
  const anyOpen = value.providers.some((p) => p.breaker_state !== "closed" && p.configured);
  const allOpen = value.providers.filter((p) => p.configured).every((p) => p.breaker_state === "open");
  return (
    <div>
      {failure && <Notice kind="error">{failure}</Notice>}
      <p>
        {value.override_provider ? (
          <>Pinned primary: <strong>{value.override_provider}</strong>{" "}
            <button type="button" className="secondary" onClick={() => void change(() => admin.unpin())}>Unpin</button></>
        ) : (
          <span className="muted">No pin: the configured order applies.</span>
        )}
      </p>
      <div className="card table-wrap">
        <table>
          <caption className="sr-only">Providers and their circuit breakers</caption>
          <thead>
            <tr>
              <th scope="col">Priority</th>
              <th scope="col">Provider</th>
              <th scope="col">Breaker</th>
              <th scope="col">Latency</th>
              <th scope="col">Failures</th>
              <th scope="col">Last error</th>
              <th scope="col"><span className="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {value.providers.map((p) => (
              <tr key={p.name}>
                <td>{p.priority}</td>
                <th scope="row">
                  {p.name}
                  {!p.configured && <span className="chip">not configured</span>}
                </th>
                <td><span className={`state state-${p.breaker_state}`}>{p.breaker_state.toUpperCase()}</span>{p.retry_at && <div className="muted small">retry {when(p.retry_at)}</div>}</td>
                <td>{p.recent_latency_ms ? `${p.recent_latency_ms} ms` : "—"}</td>
                <td>{p.consecutive_failures}</td>
                <td className="error-cell">{p.last_error ? <>{p.last_error}<div className="muted small">{when(p.last_failure_at)}</div></> : <span className="muted">—</span>}</td>
                <td>
                  {value.override_provider === p.name ? (
                    <span className="chip">pinned</span>
                  ) : (
                    <button type="button" className="secondary" disabled={!p.configured} onClick={() => void change(() => admin.pin(p.name, "pinned from the console"))} aria-label={`Pin ${p.name} as primary`}>Pin</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h3>Runbook</h3>
      <ul className="links">
        {anyOpen && <li><RunbookLink entry={RUNBOOK.breakerOpen} /></li>}
        {allOpen && <li><RunbookLink entry={RUNBOOK.allProviders} /></li>}
        <li><RunbookLink entry={RUNBOOK.providerIncident} /></li>
      </ul>
    </div>
  );
}
