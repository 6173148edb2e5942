import { screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { ConnectionBanner } from "../src/components/ConnectionBanner";
import { renderLive } from "./render";

describe("the connection banner", () => {
  it("says it is reconnecting while the feed is down, and when it is back", () => {
    const { source } = renderLive(<ConnectionBanner />);
    source.open();
    expect(screen.getByRole("status").textContent).toBe("");
    source.fail();
    expect(screen.getByRole("status").textContent).toMatch(/Connection lost\. Reconnecting/);
    source.open();
    expect(screen.getByRole("status").textContent).toMatch(/Reconnected/);
  });
});
