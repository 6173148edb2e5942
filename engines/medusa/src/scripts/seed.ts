/**
 * The store's seed: everything a new store needs to take a cash-on-delivery order, so
 * it is usable at once. Run by `npm run setup` (after `medusa db:migrate`) through
 * `medusa exec`; in Kubernetes that is the engine's setup Job.
 *
 * Idempotent: each entity has a stable identity (a name, handle, title or email) and is
 * created only when missing, and links are upserts, so a second run creates nothing.
 * Two things converge on every run: the store's name and the admin's password, so a
 * rotated Secret takes effect at the next setup.
 */
import type { ExecArgs, MedusaContainer } from "@medusajs/framework/types"
import { ContainerRegistrationKeys, FeatureFlag, Modules } from "@medusajs/framework/utils"
import {
  createApiKeysWorkflow,
  createInventoryLevelsWorkflow,
  createProductsWorkflow,
  createRegionsWorkflow,
  createSalesChannelsWorkflow,
  createShippingOptionsWorkflow,
  createShippingProfilesWorkflow,
  createStockLocationsWorkflow,
  createTaxRegionsWorkflow,
  createUsersWorkflow,
  linkSalesChannelsToApiKeyWorkflow,
  updateStoresWorkflow,
} from "@medusajs/medusa/core-flows"

import { STOREFRONT_KEY_TITLE } from "../lib/storefront"

const SALES_CHANNEL = "Storefront"
const STOCK_LOCATION = "Warehouse"
const FULFILLMENT_SET = "Warehouse shipping"
const SHIPPING_OPTION = "Standard shipping"
const PRODUCT_HANDLE = "storefleet-tee"
const PAYMENT_PROVIDER = "pp_system_default"
const FULFILLMENT_PROVIDER = "manual_manual"

type Settings = {
  storeName: string
  currency: string
  country: string
  adminEmail: string
  adminPassword: string
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const missing = ["ADMIN_EMAIL", "ADMIN_PASSWORD"].filter((name) => !env[name])
  if (missing.length) {
    throw new Error(`setup needs ${missing.join(" and ")} in the environment`)
  }
  return {
    storeName: env.STORE_NAME || "Storefleet store",
    currency: (env.STORE_CURRENCY || "eur").toLowerCase(),
    country: (env.STORE_COUNTRY || "de").toLowerCase(),
    adminEmail: env.ADMIN_EMAIL!,
    adminPassword: env.ADMIN_PASSWORD!,
  }
}

export default async function seed({ container }: ExecArgs) {
  const logger = container.resolve(ContainerRegistrationKeys.LOGGER)
  const settings = readSettings(process.env)

  const channel = await ensureSalesChannel(container)
  const region = await ensureRegion(container, settings)
  await ensureTaxRegion(container, settings.country)
  const location = await ensureStockLocation(container, settings.country)
  await linkLocation(container, location.id, channel.id)
  await ensureStore(container, settings, { channel, region, location })
  const profileId = await ensureShippingProfile(container)
  const zoneId = await ensureServiceZone(container, location.id, settings.country)
  await ensureShippingOption(container, { zoneId, profileId, region, currency: settings.currency })
  await ensurePublishableKey(container, channel.id)
  await ensureProduct(container, { profileId, channelId: channel.id, location, settings })
  await ensureAdmin(container, settings.adminEmail, settings.adminPassword)
  logger.info(`Store "${settings.storeName}" is set up (region ${region.id}).`)
}

type Ref = { id: string }

async function ensureSalesChannel(container: MedusaContainer): Promise<Ref> {
  const channels = container.resolve(Modules.SALES_CHANNEL)
  const [existing] = await channels.listSalesChannels({ name: SALES_CHANNEL })
  if (existing) return existing
  const { result } = await createSalesChannelsWorkflow(container).run({
    input: { salesChannelsData: [{ name: SALES_CHANNEL }] },
  })
  return result[0]
}

async function ensureRegion(container: MedusaContainer, settings: Settings): Promise<Ref> {
  const regions = container.resolve(Modules.REGION)
  // A country belongs to at most one region, so the country identifies the region.
  const all = await regions.listRegions({}, { relations: ["countries"] })
  const existing = all.find((r) => r.countries?.some((c) => c.iso_2 === settings.country))
  if (existing) return existing
  const { result } = await createRegionsWorkflow(container).run({
    input: {
      regions: [
        {
          name: settings.country.toUpperCase(),
          currency_code: settings.currency,
          countries: [settings.country],
          payment_providers: [PAYMENT_PROVIDER],
        },
      ],
    },
  })
  return result[0]
}

async function ensureTaxRegion(container: MedusaContainer, country: string) {
  const tax = container.resolve(Modules.TAX)
  const existing = await tax.listTaxRegions({ country_code: country })
  if (existing.some((taxRegion) => !taxRegion.parent_id)) return
  await createTaxRegionsWorkflow(container).run({
    input: [{ country_code: country, provider_id: "tp_system" }],
  })
}

async function ensureStockLocation(container: MedusaContainer, country: string): Promise<Ref> {
  const locations = container.resolve(Modules.STOCK_LOCATION)
  const [existing] = await locations.listStockLocations({ name: STOCK_LOCATION })
  if (existing) return existing
  const { result } = await createStockLocationsWorkflow(container).run({
    input: {
      locations: [{ name: STOCK_LOCATION, address: { address_1: "", country_code: country } }],
    },
  })
  return result[0]
}

/** Links are upserts: the location sells to the channel and ships with the manual provider. */
async function linkLocation(container: MedusaContainer, locationId: string, channelId: string) {
  const link = container.resolve(ContainerRegistrationKeys.LINK)
  await link.create([
    {
      [Modules.SALES_CHANNEL]: { sales_channel_id: channelId },
      [Modules.STOCK_LOCATION]: { stock_location_id: locationId },
    },
    {
      [Modules.STOCK_LOCATION]: { stock_location_id: locationId },
      [Modules.FULFILLMENT]: { fulfillment_provider_id: FULFILLMENT_PROVIDER },
    },
  ])
}

async function ensureStore(
  container: MedusaContainer,
  settings: Settings,
  defaults: { channel: Ref; region: Ref; location: Ref },
) {
  const stores = container.resolve(Modules.STORE)
  const [store] = await stores.listStores()
  if (!store) throw new Error("no store: Medusa creates it when it starts; did migrations run?")
  await updateStoresWorkflow(container).run({
    input: {
      selector: { id: store.id },
      update: {
        name: settings.storeName,
        supported_currencies: [{ currency_code: settings.currency, is_default: true }],
        default_sales_channel_id: defaults.channel.id,
        default_region_id: defaults.region.id,
        default_location_id: defaults.location.id,
      },
    },
  })
}

async function ensureShippingProfile(container: MedusaContainer): Promise<string> {
  const fulfillment = container.resolve(Modules.FULFILLMENT)
  const [existing] = await fulfillment.listShippingProfiles({ type: "default" })
  if (existing) return existing.id
  const { result } = await createShippingProfilesWorkflow(container).run({
    input: { data: [{ name: "Default Shipping Profile", type: "default" }] },
  })
  return result[0].id
}

/** The location's shipping fulfillment set, with one service zone for the store's country. */
async function ensureServiceZone(
  container: MedusaContainer,
  locationId: string,
  country: string,
): Promise<string> {
  const fulfillment = container.resolve(Modules.FULFILLMENT)
  const [existing] = await fulfillment.listFulfillmentSets(
    { name: FULFILLMENT_SET },
    { relations: ["service_zones"] },
  )
  if (existing?.service_zones?.length) return existing.service_zones[0].id
  const set =
    existing ??
    (await fulfillment.createFulfillmentSets({ name: FULFILLMENT_SET, type: "shipping" }))
  const [zone] = await fulfillment.createServiceZones([
    {
      fulfillment_set_id: set.id,
      name: country.toUpperCase(),
      geo_zones: [{ type: "country", country_code: country }],
    },
  ])
  const link = container.resolve(ContainerRegistrationKeys.LINK)
  await link.create({
    [Modules.STOCK_LOCATION]: { stock_location_id: locationId },
    [Modules.FULFILLMENT]: { fulfillment_set_id: set.id },
  })
  return zone.id
}

async function ensureShippingOption(
  container: MedusaContainer,
  opts: { zoneId: string; profileId: string; region: Ref; currency: string },
) {
  const fulfillment = container.resolve(Modules.FULFILLMENT)
  const existing = await fulfillment.listShippingOptions({ name: SHIPPING_OPTION })
  if (existing.length) return
  await createShippingOptionsWorkflow(container).run({
    input: [
      {
        name: SHIPPING_OPTION,
        price_type: "flat",
        provider_id: FULFILLMENT_PROVIDER,
        service_zone_id: opts.zoneId,
        shipping_profile_id: opts.profileId,
        type: { label: "Standard", description: "Delivered in 2-3 days.", code: "standard" },
        prices: [
          { currency_code: opts.currency, amount: 5 },
          { region_id: opts.region.id, amount: 5 },
        ],
        rules: [
          { attribute: "enabled_in_store", value: "true", operator: "eq" },
          { attribute: "is_return", value: "false", operator: "eq" },
        ],
      },
    ],
  })
}

async function ensurePublishableKey(container: MedusaContainer, channelId: string) {
  const apiKeys = container.resolve(Modules.API_KEY)
  const keys = await apiKeys.listApiKeys({ title: STOREFRONT_KEY_TITLE, type: "publishable" })
  const existing = keys.find((key) => !key.revoked_at)
  const key =
    existing ??
    (
      await createApiKeysWorkflow(container).run({
        input: { api_keys: [{ title: STOREFRONT_KEY_TITLE, type: "publishable", created_by: "" }] },
      })
    ).result[0]
  await linkSalesChannelsToApiKeyWorkflow(container).run({
    input: { id: key.id, add: [channelId] },
  })
}

async function ensureProduct(
  container: MedusaContainer,
  opts: { profileId: string; channelId: string; location: Ref; settings: Settings },
) {
  const products = container.resolve(Modules.PRODUCT)
  const [existing] = await products.listProducts({ handle: PRODUCT_HANDLE })
  const productId = existing?.id ?? (await createProduct(container, opts))
  await stockProduct(container, productId, opts.location.id)
}

async function createProduct(
  container: MedusaContainer,
  opts: { profileId: string; channelId: string; settings: Settings },
): Promise<string> {
  const { result } = await createProductsWorkflow(container).run({
    input: {
      products: [
        {
          title: "Storefleet T-shirt",
          handle: PRODUCT_HANDLE,
          description: "A sample product: organic cotton, one size.",
          status: "published",
          shipping_profile_id: opts.profileId,
          options: [{ title: "Size", values: ["One size"] }],
          variants: [
            {
              title: "One size",
              sku: "STOREFLEET-TEE",
              options: { Size: "One size" },
              manage_inventory: true,
              prices: [{ currency_code: opts.settings.currency, amount: 20 }],
            },
          ],
          sales_channels: [{ id: opts.channelId }],
        },
      ],
    },
  })
  return result[0].id
}

/** Stock at the location for each of the product's inventory items that has none yet. */
async function stockProduct(container: MedusaContainer, productId: string, locationId: string) {
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const inventory = container.resolve(Modules.INVENTORY)
  const { data } = await query.graph({
    entity: "product_variant",
    fields: ["inventory_items.inventory_item_id"],
    filters: { product_id: productId },
  })
  const itemIds: string[] = data
    .flatMap((variant) => variant.inventory_items ?? [])
    .flatMap((item) => (item ? [item.inventory_item_id] : []))
  const stocked = await inventory.listInventoryLevels({
    inventory_item_id: itemIds,
    location_id: locationId,
  })
  const levels = itemIds
    .filter((itemId) => !stocked.some((level) => level.inventory_item_id === itemId))
    .map((itemId) => ({ inventory_item_id: itemId, location_id: locationId, stocked_quantity: 1000 }))
  if (levels.length === 0) return
  await createInventoryLevelsWorkflow(container).run({ input: { inventory_levels: levels } })
}

/** The admin user and its email+password identity; the password follows the Secret. */
async function ensureAdmin(container: MedusaContainer, email: string, password: string) {
  const users = container.resolve(Modules.USER)
  const auth = container.resolve(Modules.AUTH)
  const [user] = await users.listUsers({ email })
  const userId = user?.id ?? (await createAdminUser(container, email))
  const [identity] = await auth.listProviderIdentities({ entity_id: email, provider: "emailpass" })
  let authIdentityId = identity?.auth_identity_id
  if (authIdentityId) {
    const { error } = await auth.updateProvider("emailpass", { entity_id: email, password })
    if (error) throw new Error(`could not set the admin password: ${error}`)
  } else {
    const { authIdentity, error } = await auth.register("emailpass", { body: { email, password } })
    if (error || !authIdentity) throw new Error(`could not register the admin: ${error}`)
    authIdentityId = authIdentity.id
  }
  await auth.updateAuthIdentities({ id: authIdentityId!, app_metadata: { user_id: userId } })
}

async function createAdminUser(container: MedusaContainer, email: string): Promise<string> {
  // With RBAC on, the admin must hold the super admin role, as `medusa user` does it.
  let roles: string[] = []
  if (FeatureFlag.isFeatureEnabled("rbac")) {
    const rbac = container.resolve(Modules.RBAC)
    roles = (await rbac.listRbacRoles({ id: "role_super_admin" })).map((role: Ref) => role.id)
  }
  const { result } = await createUsersWorkflow(container).run({
    input: { users: [{ email, roles }] },
  })
  return result[0].id
}
