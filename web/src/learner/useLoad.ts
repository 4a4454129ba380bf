import { useCallback, useEffect, useState } from "react";

export type Loaded<T> = { state: "loading" } | { state: "ok"; value: T } | { state: "failed"; error: unknown };

/** Runs `load` on mount (and on `reload()`), keeping the last outcome. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []): [Loaded<T>, () => void] {
  const [result, setResult] = useState<Loaded<T>>({ state: "loading" });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (value) => live && setResult({ state: "ok", value }),
      (error) => live && setResult({ state: "failed", error }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tick, ...deps]);
  return [result, useCallback(() => setTick((t) => t + 1), [])];
}
