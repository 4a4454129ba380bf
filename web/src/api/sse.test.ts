import { describe, expect, it } from "vitest";
import { ApiError } from "./errors";
import { readReply, SseParser, StreamError } from "./sse";

const enc = new TextEncoder();

/** A body that yields `chunks` one read at a time, then ends (or stays open). */
function body(chunks: (string | Uint8Array)[], keepOpen = false): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) {
        const c = chunks[i++];
        controller.enqueue(typeof c === "string" ? enc.encode(c) : c);
      } else if (!keepOpen) {
        controller.close();
      }
    },
  });
}

const accepted = `event: accepted\ndata: {"id":"m1","role":"learner","content":"Hi","status":"pending"}\n\n`;
const completed = `event: completed\ndata: {"id":"m2","role":"tutor","content":"Hello there","status":"completed"}\n\n`;

describe("SseParser", () => {
  it("joins events split at any byte, including inside a UTF-8 character", () => {
    const text = `event: delta\ndata: {"text":"Grüß"}\n\n:keep-alive\n\nevent: delta\r\ndata: {"text":" dich"}\r\n\r\n`;
    const bytes = enc.encode(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      const p = new SseParser();
      const events = [...p.push(bytes.slice(0, cut)), ...p.push(bytes.slice(cut)), ...p.end()];
      expect(events.map((e) => JSON.parse(e.data).text), `cut at ${cut}`).toEqual(["Grüß", " dich"]);
      expect(events.every((e) => e.event === "delta")).toBe(true);
    }
  });

  it("joins multi-line data and defaults the event name", () => {
    const p = new SseParser();
    expect(p.push(enc.encode("data: a\ndata: b\n\n"))).toEqual([{ event: "message", data: "a\nb" }]);
  });
});

describe("readReply", () => {
  it("reports deltas in order and resolves with the completed message", async () => {
    const deltas: string[] = [];
    let learner = "";
    let firstChunks = 0;
    const stream = (accepted + `event: delta\ndata: {"text":"Hel"}\n\nevent: delta\ndata: {"text":"lo there"}\n\n` + completed)
      .match(/[\s\S]{1,7}/g)!;
    const reply = await readReply(body(stream), {
      onAccepted: (m) => (learner = m.content),
      onDelta: (t) => deltas.push(t),
      onFirstDeltaChunk: () => firstChunks++,
    });
    expect(learner).toBe("Hi");
    expect(deltas.join("")).toBe("Hello there");
    expect(reply.content).toBe("Hello there");
    expect(firstChunks).toBe(1);
  });

  it("turns the terminal error frame into a StreamError with the partial reply", async () => {
    const error = `event: error\ndata: {"error":{"code":"all_providers_failed","message":"azure: 503","request_id":"r9"},"tutor_message":{"id":"m2","role":"tutor","content":"Hel","status":"partial"}}\n\n`;
    const deltas: string[] = [];
    const failure = await readReply(body([accepted, `event: delta\ndata: {"text":"Hel"}\n\n`, error]), { onDelta: (t) => deltas.push(t) }).catch((e) => e);
    expect(failure).toBeInstanceOf(StreamError);
    expect(failure.kind).toBe("unavailable");
    expect(failure.requestId).toBe("r9");
    expect(failure.partial.content).toBe("Hel");
    expect(deltas).toEqual(["Hel"]);
  });

  it("a stream that ends without completed or error is a lost connection", async () => {
    const failure = await readReply(body([accepted, `event: delta\ndata: {"text":"Hel"}\n\n`]), {}).catch((e) => e);
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure.kind).toBe("connection_lost");
  });

  it("a transport failure mid-stream is a lost connection", async () => {
    let sent = false;
    const broken = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(enc.encode(accepted));
        } else controller.error(new TypeError("network error"));
      },
    });
    const failure = await readReply(broken, {}).catch((e) => e);
    expect(failure.kind).toBe("connection_lost");
  });

  it("abort stops reading at once and rejects with the abort reason", async () => {
    const controller = new AbortController();
    const deltas: string[] = [];
    const pending = readReply(body([accepted, `event: delta\ndata: {"text":"Hel"}\n\n`], true), {
      onDelta: (t) => {
        deltas.push(t);
        controller.abort();
      },
    }, controller.signal);
    const failure = await pending.catch((e) => e);
    expect(failure.name).toBe("AbortError");
    expect(deltas).toEqual(["Hel"]);
  });
});
