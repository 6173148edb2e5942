/**
 * Medusa configuration of a storefleet store, read from the environment only (the
 * chart sets these variables from its values and the store's Secret; nothing is read
 * from files). Medusa loads this file in every command: `medusa start`, `medusa
 * db:migrate`, `medusa exec` and `medusa build`.
 *
 * Redis is optional: with REDIS_URL the event bus, cache, workflow engine and locking
 * use Redis (needed as soon as more than one server process runs); without it they are
 * Medusa's in-memory modules, which is right for one replica and for the tests.
 */
import { defineConfig } from "@medusajs/framework/utils"

function required(name: string): string {
  const value = process.env[name]
  if (!value) {
    throw new Error(`${name} must be set in the environment`)
  }
  return value
}

function redisModules(redisUrl: string) {
  return [
    {
      resolve: "@medusajs/medusa/event-bus-redis",
      options: { redisUrl },
    },
    {
      resolve: "@medusajs/medusa/cache-redis",
      options: { redisUrl },
    },
    {
      resolve: "@medusajs/medusa/workflow-engine-redis",
      options: { redis: { redisUrl } },
    },
    {
      resolve: "@medusajs/medusa/locking",
      options: {
        providers: [
          {
            resolve: "@medusajs/medusa/locking-redis",
            id: "locking-redis",
            is_default: true,
            options: { redisUrl },
          },
        ],
      },
    },
  ]
}

// The store's public origin: storefront, Store API, Admin API and admin UI share it.
const storeUrl = (process.env.STORE_URL || "http://localhost:9000").replace(/\/+$/, "")
const redisUrl = process.env.REDIS_URL || undefined

export default defineConfig({
  projectConfig: {
    databaseUrl: required("DATABASE_URL"),
    redisUrl,
    workerMode: (process.env.MEDUSA_WORKER_MODE as "shared" | "worker" | "server") || "shared",
    http: {
      storeCors: process.env.STORE_CORS || storeUrl,
      adminCors: process.env.ADMIN_CORS || storeUrl,
      authCors: process.env.AUTH_CORS || storeUrl,
      jwtSecret: required("JWT_SECRET"),
      cookieSecret: required("COOKIE_SECRET"),
    },
  },
  admin: {
    // Building the admin UI takes minutes and a bundler; a store turns it on explicitly.
    disable: process.env.ADMIN_UI_ENABLED !== "true",
    backendUrl: storeUrl,
  },
  modules: [
    {
      resolve: "@medusajs/medusa/file",
      options: {
        providers: [
          {
            resolve: "@medusajs/medusa/file-local",
            id: "local",
            options: { backend_url: `${storeUrl}/static` },
          },
        ],
      },
    },
    ...(redisUrl ? redisModules(redisUrl) : []),
  ],
})
