import { useEffect, useState, type KeyboardEvent } from "react";
import { learnerMessage } from "../api/errors";
import { TalkApi } from "../api/talk";
import type { Session } from "../api/types";
import { api } from "../auth/session";
import { Link } from "../ui/Link";
import { Notice } from "../ui/Notice";
import { when } from "../ui/format";
import { useLoad } from "./useLoad";

export function Sessions() {
  const talk = new TalkApi(api);
  const [showArchived, setShowArchived] = useState(false);
  const [list, reload] = useLoad(() => talk.sessions(showArchived), [showArchived]);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<Session | null>(null);

  const act = async (work: () => Promise<unknown>) => {
    setError(null);
    try {
      await work();
      reload();
    } catch (e) {
      setError(learnerMessage(e));
    }
  };

  return (
    <section className="sessions">
      <div className="conv-head">
        <h1 tabIndex={-1}>My sessions</h1>
        <label className="toggle">
          <input type="checkbox" checked={showArchived} onChange={(e) => setShowArchived(e.target.checked)} /> Show archived
        </label>
      </div>
      {error && <Notice kind="error">{error}</Notice>}
      {list.state === "loading" && <p className="muted" aria-busy="true">Loading your sessions…</p>}
      {list.state === "failed" && (
        <Notice kind="error" action={<button type="button" onClick={reload}>Try again</button>}>
          {learnerMessage(list.error)}
        </Notice>
      )}
      {list.state === "ok" && list.value.length === 0 && (
        <div className="card empty-state">
          <p>No sessions yet.</p>
          <Link href="/" className="button primary">Start practising</Link>
        </div>
      )}
      {list.state === "ok" && list.value.length > 0 && (
        <ul className="session-list">
          {list.value.map((s) => (
            <li key={s.id} className="card session-row">
              <div className="session-main">
                <Link href={`/talk/${s.id}`} className="session-title">{s.title || "Untitled session"}</Link>
                <span className="muted small">
                  {s.level && <span className="chip">{s.level}</span>} {s.message_count} message{s.message_count === 1 ? "" : "s"} · last active {when(s.updated_at ?? s.created_at)}
                  {s.archived && <span className="chip">archived</span>}
                </span>
              </div>
              <div className="session-actions">
                <Link href={`/talk/${s.id}`} className="button secondary" aria-label={`Continue ${s.title}`}>Continue</Link>
                <button type="button" className="ghost" onClick={() => void act(() => talk.archive(s.id, !s.archived))} aria-label={`${s.archived ? "Unarchive" : "Archive"} ${s.title}`}>
                  {s.archived ? "Unarchive" : "Archive"}
                </button>
                <button type="button" className="ghost danger-text" onClick={() => setConfirming(s)} aria-label={`Delete ${s.title}`}>Delete</button>
              </div>
            </li>
          ))}
        </ul>
      )}
      {confirming && (
        <ConfirmDialog
          title="Delete this session?"
          body={`“${confirming.title}” and all its messages will be deleted. This cannot be undone.`}
          confirm="Delete"
          onCancel={() => setConfirming(null)}
          onConfirm={() => {
            const s = confirming;
            setConfirming(null);
            void act(() => talk.remove(s.id));
          }}
        />
      )}
    </section>
  );
}

/** A modal confirmation: Escape cancels, Tab stays inside, focus returns where it was. */
export function ConfirmDialog(props: { title: string; body: string; confirm: string; onConfirm: () => void; onCancel: () => void; children?: React.ReactNode }) {
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    return () => opener?.focus?.();
  }, []);
  const keys = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key === "Escape") props.onCancel();
    if (e.key !== "Tab") return;
    const focusable = e.currentTarget.querySelectorAll<HTMLElement>("button, input");
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  };
  return (
    <div className="overlay" onKeyDown={keys}>
      <div role="alertdialog" aria-modal="true" aria-labelledby="confirm-title" aria-describedby="confirm-body" className="dialog">
        <h2 id="confirm-title">{props.title}</h2>
        <p id="confirm-body">{props.body}</p>
        {props.children}
        <div className="dialog-actions">
          <button type="button" className="secondary" onClick={props.onCancel} autoFocus>Cancel</button>
          <button type="button" className="danger" onClick={props.onConfirm}>{props.confirm}</button>
        </div>
      </div>
    </div>
  );
}
