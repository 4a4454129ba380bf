import { ApiError } from "./errors";
import type { ErrorDetail, Message } from "./types";

export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Splits a byte stream into server-sent events. Bytes arrive in arbitrary
 * chunks: a UTF-8 character, a line or an event may be split across them.
 */
export class SseParser {
  private decoder = new TextDecoder();
  private buffer = "";
  private event = "";
  private data: string[] = [];

  /** The events completed by `chunk`. */
  push(chunk: Uint8Array): SseEvent[] {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    return this.drain();
  }

  /** The events left when the stream ends (a last event needs its blank line). */
  end(): SseEvent[] {
    this.buffer += this.decoder.decode();
    return this.drain();
  }

  private drain(): SseEvent[] {
    const out: SseEvent[] = [];
    for (;;) {
      const nl = this.buffer.search(/\r\n|\r|\n/);
      if (nl < 0) break;
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (this.buffer[nl] === "\r" && nl === this.buffer.length - 1) break;
      const width = this.buffer.startsWith("\r\n", nl) ? 2 : 1;
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + width);
      if (line === "") {
        if (this.data.length > 0) out.push({ event: this.event || "message", data: this.data.join("\n") });
        this.event = "";
        this.data = [];
        continue;
      }
      if (line.startsWith(":")) continue; // keep-alive comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") this.event = value;
      else if (field === "data") this.data.push(value);
    }
    return out;
  }
}

export interface StreamHandlers {
  /** The chunk holding the first `delta` has arrived (called before it is handled). */
  onFirstDeltaChunk?: () => void;
  onAccepted?: (learner: Message) => void;
  onDelta?: (text: string) => void;
}

export interface StreamFailure {
  error: ErrorDetail;
  tutor_message: Message | null;
}

/** An `error` event: the reply failed after it started (the partial reply, if kept, comes with it). */
export class StreamError extends ApiError {
  readonly partial: Message | null;
  constructor(failure: StreamFailure) {
    super(200, failure.error);
    this.partial = failure.tutor_message;
  }
}

/**
 * Reads the tutor's streamed reply from `response` until `completed`,
 * calling the handlers as events arrive. Resolves with the completed tutor
 * message; rejects with StreamError on an `error` event, with a
 * connection-lost ApiError when the stream ends without a terminal event,
 * and with the AbortError when `signal` aborts.
 */
export async function readReply(
  body: ReadableStream<Uint8Array>,
  handlers: StreamHandlers,
  signal?: AbortSignal,
): Promise<Message> {
  const reader = body.getReader();
  const parser = new SseParser();
  let sawDelta = false;
  const abort = () => void reader.cancel().catch(() => {});
  signal?.addEventListener("abort", abort, { once: true });
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (signal?.aborted) throw signal.reason ?? new DOMException("aborted", "AbortError");
        throw ApiError.network(e instanceof Error ? e.message : String(e));
      }
      if (signal?.aborted) throw signal.reason ?? new DOMException("aborted", "AbortError");
      const events = chunk.done ? parser.end() : parser.push(chunk.value);
      if (!sawDelta && events.some((e) => e.event === "delta")) {
        sawDelta = true;
        handlers.onFirstDeltaChunk?.();
      }
      for (const e of events) {
        const data = JSON.parse(e.data);
        switch (e.event) {
          case "accepted":
            handlers.onAccepted?.(data as Message);
            break;
          case "delta":
            handlers.onDelta?.((data as { text: string }).text);
            break;
          case "completed":
            return data as Message;
          case "error":
            throw new StreamError(data as StreamFailure);
        }
      }
      if (chunk.done) {
        throw new ApiError(200, {
          code: "stream_interrupted",
          message: "the reply stream ended before the reply was complete",
          request_id: "",
        });
      }
    }
  } finally {
    signal?.removeEventListener("abort", abort);
    try {
      reader.releaseLock();
    } catch {
      // a read still pending after cancel: the lock goes with the reader
    }
  }
}
