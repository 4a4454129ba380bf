// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { renderMarkdown } from "./Markdown";

describe("renderMarkdown", () => {
  it("renders Markdown and strips anything that could run", () => {
    const html = renderMarkdown('**Good!** Try *this*\n\n<img src=x onerror="alert(1)"><script>alert(2)</script>[x](javascript:alert(3))');
    expect(html).toContain("<strong>Good!</strong>");
    expect(html).toContain("<em>this</em>");
    expect(html).not.toMatch(/onerror|<script|<img|javascript:/i);
  });
});
