import { useState } from "react";
import { learnerMessage } from "../api/errors";
import { TalkApi } from "../api/talk";
import { LEVELS, type Level, type Scenario } from "../api/types";
import { api } from "../auth/session";
import { navigate } from "../ui/router";
import { Notice } from "../ui/Notice";
import { useLoad } from "./useLoad";

const LEVEL_NAMES: Record<Level, string> = {
  A1: "A1 · Beginner",
  A2: "A2 · Elementary",
  B1: "B1 · Intermediate",
  B2: "B2 · Upper intermediate",
  C1: "C1 · Advanced",
  C2: "C2 · Proficient",
};

export function Home() {
  const talk = new TalkApi(api);
  const [data, reload] = useLoad(() => Promise.all([talk.scenarios(), talk.profile().catch(() => null)]));
  const [chosen, setChosen] = useState<string | null>(null);
  const [level, setLevel] = useState<Level | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  if (data.state === "loading") return <p className="muted" aria-busy="true">Loading scenarios…</p>;
  if (data.state === "failed")
    return (
      <section>
        <h1 tabIndex={-1}>Practice</h1>
        <Notice kind="error" action={<button type="button" onClick={reload}>Try again</button>}>
          {learnerMessage(data.error)}
        </Notice>
      </section>
    );

  const [scenarios, profile] = data.value;
  const selected: Scenario | undefined = scenarios.find((s) => s.id === chosen) ?? undefined;
  const effectiveLevel: Level = level ?? profile?.level ?? "B1";

  const start = async () => {
    if (!selected) return;
    setBusy(true);
    setError(null);
    try {
      const session = await talk.createSession(selected.id, effectiveLevel);
      navigate(`/talk/${session.id}`);
    } catch (e) {
      setError(learnerMessage(e));
      setBusy(false);
    }
  };

  return (
    <section className="home">
      <h1 tabIndex={-1}>What would you like to practise?</h1>
      <p className="muted">Pick a situation and your level. Your tutor plays the other person and helps you as you go.</p>
      <fieldset className="scenarios">
        <legend className="sr-only">Scenario</legend>
        {scenarios.map((s) => (
          <label key={s.id} className={`card scenario ${chosen === s.id ? "chosen" : ""}`}>
            <input type="radio" name="scenario" value={s.id} checked={chosen === s.id} onChange={() => setChosen(s.id)} className="sr-only" />
            <span className="scenario-top">
              <span className="scenario-title">{s.title}</span>
              <span className="chip">{s.category}</span>
            </span>
            <span className="scenario-desc">{s.description}</span>
            {s.goals.length > 0 && (
              <span className="goals">
                {s.goals.slice(0, 3).map((g) => (
                  <span key={g} className="goal">✓ {g}</span>
                ))}
              </span>
            )}
            <span className="muted small">Tutor plays: {s.tutor_role}</span>
          </label>
        ))}
      </fieldset>
      <div className="start-bar">
        <label htmlFor="level">Your level</label>
        <select id="level" value={effectiveLevel} onChange={(e) => setLevel(e.target.value as Level)}>
          {LEVELS.map((l) => (
            <option key={l} value={l}>{LEVEL_NAMES[l]}</option>
          ))}
        </select>
        <button type="button" className="primary" disabled={!selected || busy} onClick={() => void start()}>
          {selected ? `Start “${selected.title}”` : "Choose a scenario"}
        </button>
      </div>
      {error && <Notice kind="error">{error}</Notice>}
    </section>
  );
}
