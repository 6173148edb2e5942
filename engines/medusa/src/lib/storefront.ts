/**
 * What the storefront page needs to talk to the Store API: the publishable API key of
 * the storefront's sales channel and the store's default region. The seed creates the
 * key under STOREFRONT_KEY_TITLE; GET /storefront/config reads it back from Medusa's
 * own tables, so the key is never copied into configuration.
 */
import type { MedusaContainer } from "@medusajs/framework/types"
import { Modules } from "@medusajs/framework/utils"

export const STOREFRONT_KEY_TITLE = "Storefront"

export type StorefrontConfig = {
  store_name: string
  publishable_key: string
  region_id: string | null
}

/** The storefront's settings, or null while the setup step has not run yet. */
export async function loadStorefrontConfig(
  container: MedusaContainer,
): Promise<StorefrontConfig | null> {
  const apiKeys = container.resolve(Modules.API_KEY)
  const stores = container.resolve(Modules.STORE)
  const keys = await apiKeys.listApiKeys({ title: STOREFRONT_KEY_TITLE, type: "publishable" })
  const key = keys.find((candidate) => !candidate.revoked_at)
  const [store] = await stores.listStores()
  if (!key || !store) return null
  return {
    store_name: store.name,
    publishable_key: key.token,
    region_id: store.default_region_id ?? null,
  }
}
