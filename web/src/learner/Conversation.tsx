import { useEffect, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { ApiError, learnerMessage } from "../api/errors";
import { StreamError } from "../api/sse";
import { TalkApi } from "../api/talk";
import type { Message, Session } from "../api/types";
import { api } from "../auth/session";
import { Link } from "../ui/Link";
import { Markdown } from "../ui/Markdown";
import { Notice } from "../ui/Notice";
import { when } from "../ui/format";
import { useLoad } from "./useLoad";

interface Failure {
  message: string;
  content: string;
  retryable: boolean;
  /** Too many requests: no retry before this time (Retry-After). */
  retryAt: number | null;
}

/** Seconds left until `at`, re-rendering every second until then. */
function useCountdown(at: number | null): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (at === null || at <= Date.now()) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [at]);
  return at === null ? 0 : Math.max(0, Math.ceil((at - now) / 1000));
}

type Live = { state: "idle" } | { state: "streaming"; learner: string; reply: string } | { state: "stopped"; reply: string };

function newId(): string {
  return crypto.randomUUID();
}

export function Conversation({ sessionId }: { sessionId: string }) {
  const talk = new TalkApi(api);
  const [loaded, reload] = useLoad(() => Promise.all([talk.session(sessionId), talk.messages(sessionId)]), [sessionId]);
  const [messages, setMessages] = useState<Message[]>([]);
  const [session, setSession] = useState<Session | null>(null);
  const [draft, setDraft] = useState("");
  const [live, setLive] = useState<Live>({ state: "idle" });
  const [failure, setFailure] = useState<Failure | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const abort = useRef<AbortController | null>(null);
  const endRef = useRef<HTMLDivElement>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const firstPaintPending = useRef(false);
  const wait = useCountdown(failure?.retryAt ?? null);

  useEffect(() => {
    if (loaded.state === "ok") {
      setSession(loaded.value[0]);
      setMessages(loaded.value[1]);
    }
  }, [loaded]);

  useEffect(() => () => abort.current?.abort(), []);

  useEffect(() => {
    endRef.current?.scrollIntoView?.({ block: "end" });
  }, [messages, live]);

  // The first token on screen: marked after the frame that paints it (bench).
  useLayoutEffect(() => {
    if (live.state === "streaming" && live.reply && firstPaintPending.current) {
      firstPaintPending.current = false;
      requestAnimationFrame(() => performance.mark("fe:first-token-painted"));
    }
  }, [live]);

  if (loaded.state === "loading") return <p className="muted" aria-busy="true">Loading the conversation…</p>;
  if (loaded.state === "failed") {
    const notFound = loaded.error instanceof ApiError && loaded.error.kind === "not_found";
    return (
      <section>
        <h1 tabIndex={-1}>{notFound ? "Conversation not found" : "Couldn't open the conversation"}</h1>
        <Notice kind="error" action={notFound ? <Link href="/">Start a new one</Link> : <button type="button" onClick={reload}>Try again</button>}>
          {learnerMessage(loaded.error)}
        </Notice>
      </section>
    );
  }

  const streaming = live.state === "streaming";

  const send = async (content: string) => {
    const text = content.trim();
    if (!text || streaming) return;
    setFailure(null);
    setDraft("");
    const controller = new AbortController();
    abort.current = controller;
    firstPaintPending.current = true;
    setLive({ state: "streaming", learner: text, reply: "" });
    setAnnouncement("The tutor is replying…");
    let reply = "";
    let learnerId: string | null = null;
    try {
      const tutor = await talk.send(
        sessionId,
        text,
        newId(),
        {
          onFirstDeltaChunk: () => performance.mark("fe:first-delta-byte"),
          onAccepted: (m) => {
            learnerId = m.id;
            setMessages((ms) => [...ms, m]);
          },
          onDelta: (t) => {
            reply += t;
            setLive({ state: "streaming", learner: text, reply });
          },
        },
        controller.signal,
      );
      setMessages((ms) => [...ms.map((m) => (m.id === learnerId ? { ...m, status: "completed" as const } : m)), tutor]);
      setLive({ state: "idle" });
      setAnnouncement(`Tutor: ${tutor.content}`);
    } catch (e) {
      if (controller.signal.aborted) {
        setLive(reply ? { state: "stopped", reply } : { state: "idle" });
        setAnnouncement("Stopped.");
        return;
      }
      if (e instanceof StreamError && e.partial?.content) {
        const partial = e.partial;
        setMessages((ms) => [...ms, partial]);
      }
      setLive({ state: "idle" });
      const kind = e instanceof ApiError ? e.kind : "other";
      // If the message never reached the service, give it back to edit.
      const accepted = e instanceof StreamError || kind === "connection_lost";
      if (!accepted) {
        setMessages((ms) => ms.filter((m) => !(m.role === "learner" && m.content === text && m.status !== "completed")));
        setDraft((d) => d || text);
      }
      const retryAfter = e instanceof ApiError && kind === "rate_limit" ? e.retryAfter ?? 30 : null;
      setFailure({
        message: learnerMessage(e),
        content: text,
        retryable: kind !== "not_found" && kind !== "invalid" && kind !== "forbidden",
        retryAt: retryAfter === null ? null : Date.now() + retryAfter * 1000,
      });
      setAnnouncement(learnerMessage(e));
    } finally {
      abort.current = null;
      input.current?.focus();
    }
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void send(draft);
  };

  const keys = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send(draft);
    }
  };

  const title = session?.title || "Conversation";
  return (
    <section className="conversation">
      <div className="conv-head">
        <div>
          <h1 tabIndex={-1}>{title}</h1>
          <p className="muted small">
            {session?.level && <span className="chip">{session.level}</span>} Started {when(session?.created_at ?? null)}
            {session?.archived && <span className="chip">archived</span>}
          </p>
        </div>
        <Link href="/sessions" className="button ghost">All sessions</Link>
      </div>

      <ol className="log" aria-label="Conversation">
        {messages.length === 0 && !streaming && (
          <li className="empty muted">Say hello to start — write in the language you are practising.</li>
        )}
        {messages.map((m) => (
          <li key={m.id} className={`msg ${m.role} ${m.status}`}>
            <span className="sr-only">{m.role === "tutor" ? "Tutor:" : "You:"}</span>
            <div className="bubble">
              {m.role === "tutor" ? <Markdown text={m.content} /> : <p>{m.content}</p>}
              {m.status === "partial" && <span className="tag">reply cut short</span>}
              {m.status === "failed" && m.role === "learner" && <span className="tag">no reply</span>}
            </div>
          </li>
        ))}
        {streaming && !messages.some((m) => m.role === "learner" && m.content === live.learner && m.status === "pending") && messages[messages.length - 1]?.content !== live.learner && (
          <li className="msg learner pending">
            <span className="sr-only">You:</span>
            <div className="bubble"><p>{live.learner}</p></div>
          </li>
        )}
        {streaming && (
          <li className="msg tutor streaming" data-testid="streaming-reply" aria-busy="true">
            <span className="sr-only">Tutor (replying):</span>
            <div className="bubble">
              {live.reply ? <Markdown text={live.reply} /> : <span className="typing" aria-label="The tutor is typing"><i /><i /><i /></span>}
            </div>
          </li>
        )}
        {live.state === "stopped" && (
          <li className="msg tutor partial">
            <span className="sr-only">Tutor (stopped):</span>
            <div className="bubble">
              <Markdown text={live.reply} />
              <span className="tag">stopped</span>
            </div>
          </li>
        )}
      </ol>
      <div ref={endRef} />
      <p className="sr-only" aria-live="polite">{announcement}</p>

      {failure && (
        <Notice
          kind="error"
          action={
            failure.retryable ? (
              <button type="button" onClick={() => void send(failure.content)} disabled={streaming || wait > 0}>
                {wait > 0 ? `Retry in ${wait} s` : "Retry"}
              </button>
            ) : undefined
          }
        >
          {failure.message}
        </Notice>
      )}

      <form className="composer" onSubmit={submit}>
        <label htmlFor="composer" className="sr-only">Your message</label>
        <textarea
          id="composer"
          ref={input}
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={keys}
          placeholder="Write your message…"
          aria-describedby="composer-hint"
          rows={2}
          maxLength={4000}
          disabled={session?.archived}
        />
        {streaming ? (
          <button type="button" className="danger" onClick={() => abort.current?.abort()}>Stop</button>
        ) : (
          <button type="submit" className="primary" disabled={!draft.trim() || session?.archived || wait > 0}>Send</button>
        )}
      </form>
      <p id="composer-hint" className="muted small hint">Enter sends · Shift+Enter adds a new line</p>
      {session?.archived && <p className="muted small">This session is archived. Unarchive it from “My sessions” to continue.</p>}
    </section>
  );
}
