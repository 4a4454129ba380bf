/// <reference types="vite/client" />
interface ImportMetaEnv {
  /** The gateway's origin when the app is served elsewhere (empty: same origin). */
  readonly VITE_API_URL?: string;
}
