// Renders a piece of the dashboard inside a live feed whose EventSource the test drives.

import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { LiveProvider } from "../src/live/live";
import { LiveStream } from "../src/live/stream";
import { FakeEventSource } from "./fakes";

export function renderLive(ui: ReactElement, sessionAlive: () => Promise<boolean> = async () => true) {
  FakeEventSource.install();
  const stream = new LiveStream(sessionAlive);
  stream.start();
  const view = render(<LiveProvider stream={stream}>{ui}</LiveProvider>);
  return { ...view, stream, source: FakeEventSource.latest };
}
