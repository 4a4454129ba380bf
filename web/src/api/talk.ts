import type { ApiClient } from "./client";
import { readReply, type StreamHandlers } from "./sse";
import type { Level, Message, Profile, Scenario, Session } from "./types";

/** The learner's API (`/api/talk/*`). */
export class TalkApi {
  constructor(private readonly api: ApiClient) {}

  scenarios(): Promise<Scenario[]> {
    return this.api.get<{ scenarios: Scenario[] }>("/api/talk/scenarios").then((r) => r.scenarios);
  }

  profile(): Promise<Profile> {
    return this.api.get<Profile>("/api/talk/profile");
  }

  updateProfile(change: { display_name?: string; level?: Level }): Promise<Profile> {
    return this.api.patch<Profile>("/api/talk/profile", change);
  }

  sessions(includeArchived: boolean): Promise<Session[]> {
    const q = includeArchived ? "?include_archived=true&page_size=100" : "?page_size=100";
    return this.api.get<{ sessions: Session[] }>(`/api/talk/sessions${q}`).then((r) => r.sessions);
  }

  createSession(scenarioId: string, level: Level, title?: string): Promise<Session> {
    return this.api.post<Session>("/api/talk/sessions", { scenario_id: scenarioId, level, title });
  }

  session(id: string): Promise<Session> {
    return this.api.get<Session>(`/api/talk/sessions/${encodeURIComponent(id)}`);
  }

  messages(id: string): Promise<Message[]> {
    return this.api
      .get<{ messages: Message[] }>(`/api/talk/sessions/${encodeURIComponent(id)}/messages?page_size=200`)
      .then((r) => r.messages);
  }

  archive(id: string, archived: boolean): Promise<Session> {
    return this.api.patch<Session>(`/api/talk/sessions/${encodeURIComponent(id)}`, { archived });
  }

  remove(id: string): Promise<void> {
    return this.api.delete<void>(`/api/talk/sessions/${encodeURIComponent(id)}`);
  }

  /**
   * Sends the learner's message and streams the tutor's reply. A failure
   * before the reply starts is an HTTP error (ApiError); after, a StreamError.
   * `clientMessageId` makes a retry of the same message idempotent.
   */
  async send(
    sessionId: string,
    content: string,
    clientMessageId: string,
    handlers: StreamHandlers,
    signal: AbortSignal,
  ): Promise<Message> {
    const response = await this.api.send(
      "POST",
      "/api/talk/message",
      { session_id: sessionId, content, client_message_id: clientMessageId },
      { headers: { accept: "text/event-stream" }, signal },
    );
    if (!response.body) throw new Error("the browser gave no response body");
    return readReply(response.body, handlers, signal);
  }
}
