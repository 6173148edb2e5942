/**
 * The storefront's static files, served by the Medusa server itself from
 * `<working directory>/storefront` (the project root here, `/app` in the image). Only
 * the files listed below are served, so a request can never read anything else.
 */
import { readFile } from "node:fs/promises"
import path from "node:path"

import type { MedusaResponse } from "@medusajs/framework/http"

const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "shop.js": "text/javascript; charset=utf-8",
  "shop.css": "text/css; charset=utf-8",
}

export async function sendStorefrontFile(res: MedusaResponse, name: string) {
  const contentType = FILES[name]
  if (!contentType) {
    res.status(404).json({ message: "not found" })
    return
  }
  const body = await readFile(path.join(process.cwd(), "storefront", name))
  res.set({
    "Content-Type": contentType,
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: https:",
    "X-Content-Type-Options": "nosniff",
  })
  res.send(body)
}
