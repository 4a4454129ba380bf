import { lazy, Suspense, useEffect, useState, useSyncExternalStore } from "react";
import type { WebConfig } from "./api/types";
import { completeOidc, identity, loadWebConfig, restore, signOut, subscribe } from "./auth/session";
import { SignIn } from "./auth/SignIn";
import { Home } from "./learner/Home";
import { Conversation } from "./learner/Conversation";
import { Sessions } from "./learner/Sessions";
import { Link } from "./ui/Link";
import { match, navigate, usePath } from "./ui/router";
import { Notice } from "./ui/Notice";

// The console is a separate chunk: learners never download it.
const Console = lazy(() => import("./console/Console"));

type Boot = { state: "loading" } | { state: "ready"; config: WebConfig } | { state: "failed"; message: string };

export function App() {
  const path = usePath();
  const who = useSyncExternalStore(subscribe, identity);
  const [boot, setBoot] = useState<Boot>({ state: "loading" });

  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const config = await loadWebConfig();
        if (location.pathname === "/auth/callback" && config.oidc) {
          const next = await completeOidc(config.oidc);
          navigate(next, true);
        } else if (!identity()) {
          await restore(config);
        }
        if (!cancelled) setBoot({ state: "ready", config });
      } catch (e) {
        if (!cancelled) setBoot({ state: "failed", message: e instanceof Error ? e.message : String(e) });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, []);

  if (boot.state === "loading") {
    return (
      <main className="centered" aria-busy="true">
        <p className="muted">Loading FluentEdge…</p>
      </main>
    );
  }
  if (boot.state === "failed") {
    return (
      <main className="centered">
        <h1 tabIndex={-1}>FluentEdge is not reachable</h1>
        <Notice kind="error">We couldn't reach the FluentEdge service. Please check your connection and reload the page.</Notice>
      </main>
    );
  }
  if (!who) return <SignIn config={boot.config} />;

  const talk = match("/talk/:id", path);
  const inConsole = path.startsWith("/console");
  let screen;
  if (talk) screen = <Conversation key={talk.id} sessionId={talk.id} />;
  else if (path.startsWith("/sessions")) screen = <Sessions />;
  else if (inConsole) {
    screen = who.admin ? (
      <Suspense fallback={<p className="muted">Loading the console…</p>}>
        <Console path={path} />
      </Suspense>
    ) : (
      <section>
        <h1 tabIndex={-1}>Page not found</h1>
        <p>There is nothing here. <Link href="/">Back to practice</Link></p>
      </section>
    );
  } else screen = <Home />;

  const current = (href: string) => (href === "/" ? path === "/" : path.startsWith(href)) ? "page" : undefined;
  return (
    <>
      <a className="skip" href="#main">Skip to content</a>
      <header className="topbar">
        <Link href="/" className="brand" aria-label="FluentEdge home">
          <span className="logo" aria-hidden="true">F</span>
          <span>FluentEdge</span>
        </Link>
        <nav aria-label="Main">
          <Link href="/" aria-current={current("/")}>Practice</Link>
          <Link href="/sessions" aria-current={current("/sessions")}>My sessions</Link>
          {who.admin && (
            <Link href="/console" aria-current={current("/console")}>Console</Link>
          )}
        </nav>
        <div className="who">
          <span className="avatar" aria-hidden="true">{who.name.slice(0, 1).toUpperCase()}</span>
          <span className="who-name">{who.name}{who.admin ? " · admin" : ""}</span>
          <button type="button" className="ghost" onClick={() => void signOut(boot.config).then(() => navigate("/"))}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" className={inConsole ? "wide" : undefined}>{screen}</main>
    </>
  );
}
