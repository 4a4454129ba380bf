import { describe, expect, it } from "vitest";
import { claimsOf, hasAdminRole } from "./session";

const b64url = (s: string) => Buffer.from(s, "utf8").toString("base64url");

describe("token claims", () => {
  it("reads the payload of a JWT, UTF-8 and unpadded base64url included", () => {
    const token = `${b64url('{"alg":"RS256"}')}.${b64url('{"sub":"zoë-1","roles":["learner"]}')}.sig`;
    expect(claimsOf(token)).toEqual({ sub: "zoë-1", roles: ["learner"] });
  });

  it("finds the admin role in every form the gateway accepts", () => {
    expect(hasAdminRole({ roles: ["learner", "admin"] })).toBe(true);
    expect(hasAdminRole({ roles: "admin" })).toBe(true);
    expect(hasAdminRole({ role: "admin" })).toBe(true);
    expect(hasAdminRole({ roles: ["learner"] })).toBe(false);
    expect(hasAdminRole({})).toBe(false);
  });
});
