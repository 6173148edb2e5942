/** GET /shop: the storefront page (static HTML; its script calls the Store API). */
import type { MedusaRequest, MedusaResponse } from "@medusajs/framework/http"

import { sendStorefrontFile } from "../../lib/storefront-files"

export async function GET(_req: MedusaRequest, res: MedusaResponse) {
  await sendStorefrontFile(res, "index.html")
}
