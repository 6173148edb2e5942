/**
 * GET /storefront/config: the publishable API key and region for the storefront page
 * (public by design: a publishable key only scopes Store API calls to a sales channel).
 * Answers 503 until the setup step has created the key.
 */
import type { MedusaRequest, MedusaResponse } from "@medusajs/framework/http"

import { loadStorefrontConfig } from "../../../lib/storefront"

export async function GET(req: MedusaRequest, res: MedusaResponse) {
  const config = await loadStorefrontConfig(req.scope)
  if (!config) {
    res.status(503).json({ message: "the store is not set up yet: run the setup step" })
    return
  }
  res.set("Cache-Control", "no-store").json(config)
}
