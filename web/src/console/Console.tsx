import { useEffect, useState } from "react";
import { AdminApi } from "../api/admin";
import { api } from "../auth/session";
import { Link } from "../ui/Link";
import { BudgetPanel } from "./BudgetPanel";
import { CostsPanel } from "./CostsPanel";
import { ProvidersPanel } from "./ProvidersPanel";

const TABS = [
  { href: "/console", label: "Budget" },
  { href: "/console/providers", label: "Providers" },
  { href: "/console/costs", label: "Costs" },
];

const REFRESH_MS = 10_000;

/** The operator console: budget, providers, costs; refreshed every 10 s. */
export default function Console({ path }: { path: string }) {
  const admin = new AdminApi(api);
  const [tick, setTick] = useState(0);
  const [auto, setAuto] = useState(true);
  const [updated, setUpdated] = useState<Date | null>(null);

  useEffect(() => {
    if (!auto) return;
    const timer = setInterval(() => setTick((t) => t + 1), REFRESH_MS);
    return () => clearInterval(timer);
  }, [auto]);

  const tab = TABS.find((t) => t.href === path.split("?")[0]) ?? TABS[0];
  const refreshed = () => setUpdated(new Date());
  return (
    <section className="console">
      <div className="conv-head">
        <h1 tabIndex={-1}>Operator console · {tab.label}</h1>
        <div className="refresh">
          <label className="toggle">
            <input type="checkbox" checked={auto} onChange={(e) => setAuto(e.target.checked)} /> Auto-refresh
          </label>
          <button type="button" className="secondary" onClick={() => setTick((t) => t + 1)}>Refresh now</button>
          <span className="muted small" aria-live="off">{updated ? `Updated ${updated.toLocaleTimeString("en-GB")}` : ""}</span>
        </div>
      </div>
      <nav className="tabs" aria-label="Console sections">
        {TABS.map((t) => (
          <Link key={t.href} href={t.href} aria-current={t === tab ? "page" : undefined}>{t.label}</Link>
        ))}
      </nav>
      {tab.label === "Budget" && <BudgetPanel admin={admin} tick={tick} onLoaded={refreshed} />}
      {tab.label === "Providers" && <ProvidersPanel admin={admin} tick={tick} onLoaded={refreshed} />}
      {tab.label === "Costs" && <CostsPanel admin={admin} tick={tick} onLoaded={refreshed} />}
    </section>
  );
}
