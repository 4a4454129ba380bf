import { useState, type FormEvent } from "react";
import { learnerMessage } from "../api/errors";
import type { WebConfig } from "../api/types";
import { Notice } from "../ui/Notice";
import { signInDevelopment, signInOidc } from "./session";

export function SignIn({ config }: { config: WebConfig }) {
  const [name, setName] = useState("");
  const [role, setRole] = useState<"learner" | "admin">("learner");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const dev = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signInDevelopment(name, role);
    } catch (err) {
      setError(learnerMessage(err));
      setBusy(false);
    }
  };

  const oidc = async () => {
    if (!config.oidc) return;
    setBusy(true);
    setError(null);
    try {
      await signInOidc(config.oidc, location.pathname + location.search);
    } catch {
      setError("The sign-in service is not reachable. Please try again in a moment.");
      setBusy(false);
    }
  };

  return (
    <main className="signin">
      <div className="signin-card">
        <div className="brand big">
          <span className="logo" aria-hidden="true">F</span>
          <span>FluentEdge</span>
        </div>
        <h1 tabIndex={-1}>Practise speaking with your AI tutor</h1>
        <p className="muted">Real-life conversations at your level, with corrections as you go.</p>
        {error && <Notice kind="error">{error}</Notice>}
        {config.oidc && (
          <button type="button" className="primary block" onClick={() => void oidc()} disabled={busy}>
            Sign in
          </button>
        )}
        {config.development_sign_in && (
          <form onSubmit={(e) => void dev(e)} className="dev-signin" aria-labelledby="dev-title">
            <h2 id="dev-title">Development sign-in</h2>
            <p className="muted small">This gateway runs on the public development secret: sign in as anyone.</p>
            <label htmlFor="dev-name">Name</label>
            <input id="dev-name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={40} autoComplete="name" placeholder="e.g. Ada" />
            <fieldset>
              <legend>Role</legend>
              <label className="radio">
                <input type="radio" name="role" value="learner" checked={role === "learner"} onChange={() => setRole("learner")} /> Learner
              </label>
              <label className="radio">
                <input type="radio" name="role" value="admin" checked={role === "admin"} onChange={() => setRole("admin")} /> Operator (admin)
              </label>
            </fieldset>
            <button type="submit" className={config.oidc ? "secondary block" : "primary block"} disabled={busy || !name.trim()}>
              Sign in as {name.trim() || "…"}
            </button>
          </form>
        )}
        {!config.oidc && !config.development_sign_in && (
          <Notice kind="warning">Sign-in is not configured on this server. An operator must set WEB_OIDC_AUTHORITY and WEB_OIDC_CLIENT_ID.</Notice>
        )}
      </div>
    </main>
  );
}
