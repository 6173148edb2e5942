/** GET /shop/:asset: the storefront's script and stylesheet. */
import type { MedusaRequest, MedusaResponse } from "@medusajs/framework/http"

import { sendStorefrontFile } from "../../../lib/storefront-files"

export async function GET(req: MedusaRequest, res: MedusaResponse) {
  await sendStorefrontFile(res, req.params.asset)
}
