import type { ReactNode } from "react";

/** A message box: errors are announced at once, information politely. */
export function Notice({ kind, children, action }: { kind: "error" | "info" | "warning"; children: ReactNode; action?: ReactNode }) {
  return (
    <div className={`notice ${kind}`} role={kind === "error" ? "alert" : "status"}>
      <div className="notice-text">{children}</div>
      {action && <div className="notice-action">{action}</div>}
    </div>
  );
}
