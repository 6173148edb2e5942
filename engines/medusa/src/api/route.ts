/** GET /: the store's address leads to the storefront. */
import type { MedusaRequest, MedusaResponse } from "@medusajs/framework/http"

export async function GET(_req: MedusaRequest, res: MedusaResponse) {
  res.redirect(302, "/shop")
}
