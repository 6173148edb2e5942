// Build and test configuration. `npm run dev` proxies /api to a running gateway
// (STOREFLEET_GATEWAY_URL, default http://127.0.0.1:8080) without rewriting the Host,
// so the gateway's same-origin check accepts the dev server's Origin.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

const gateway = process.env.STOREFLEET_GATEWAY_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: {
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: {
    proxy: { "/api": { target: gateway, changeOrigin: false } },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./test/setup.ts"],
    include: ["test/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
