import { ApiError } from "./errors";
import type { ErrorDetail } from "./types";

export type TokenSource = () => string | null;

/** Calls the gateway's JSON APIs with the signed-in person's token. */
export class ApiClient {
  constructor(
    /** The gateway's origin; empty for the page's own origin. */
    readonly baseUrl: string,
    private readonly token: TokenSource,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
    /** Called when the gateway no longer accepts the token (expired, revoked). */
    private readonly onUnauthenticated: () => void = () => {},
  ) {}

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { accept: "application/json", ...extra };
    const token = this.token();
    if (token) h.authorization = `Bearer ${token}`;
    return h;
  }

  /** The raw response of a call; failures (network or HTTP) throw ApiError. */
  async send(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<Response> {
    const headers = this.headers(init.headers as Record<string, string> | undefined);
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path), {
        ...init,
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") throw e;
      throw ApiError.network(e instanceof Error ? e.message : String(e));
    }
    if (response.status === 401 && this.token()) this.onUnauthenticated();
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, body);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.json<T>("GET", path);
  }
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.json<T>("POST", path, body ?? {});
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.json<T>("PATCH", path, body);
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.json<T>("PUT", path, body);
  }
  delete<T>(path: string): Promise<T> {
    return this.json<T>("DELETE", path);
  }
}

/** The ApiError for a failed response, whatever its body. */
export async function errorOf(response: Response): Promise<ApiError> {
  const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
  let detail: ErrorDetail = {
    code: response.headers.get("x-error-reason") ?? `http_${response.status}`,
    message: response.statusText || `HTTP ${response.status}`,
    request_id: response.headers.get("x-request-id") ?? "",
  };
  try {
    const body = (await response.json()) as { error?: Partial<ErrorDetail> };
    if (body?.error?.code) detail = { ...detail, ...body.error } as ErrorDetail;
  } catch {
    // Not JSON (a proxy's page): keep what the headers said.
  }
  return new ApiError(response.status, detail, retryAfter);
}

/** Retry-After in seconds (delta-seconds or an HTTP date), or null. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

export function apiBase(): string {
  // Built for another origin (VITE_API_URL): call it (CORS_ALLOW_ORIGINS on the
  // gateway). `npm run dev` proxies instead, so the dev page uses its own origin.
  return import.meta.env.PROD ? (import.meta.env.VITE_API_URL ?? "").replace(/\/$/, "") : "";
}
