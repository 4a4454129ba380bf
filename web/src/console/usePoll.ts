import { useEffect, useState } from "react";

/** Loads on mount and whenever `tick` changes, keeping the last good value during reloads. */
export function usePoll<T>(load: () => Promise<T>, tick: number, onLoaded: () => void) {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [again, setAgain] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (v) => {
        if (!live) return;
        setValue(v);
        setError(null);
        onLoaded();
      },
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tick, again]);
  return { value, error, reload: () => setAgain((a) => a + 1) };
}
