// The storefront page's logic: it talks to Medusa's Store API on the same origin with
// the publishable key from GET /storefront/config, and checks out with the manual
// payment provider (cash on delivery). The cart id lives in localStorage so a reload
// keeps the cart.
"use strict"

const PAYMENT_PROVIDER = "pp_system_default"
const CART_KEY = "storefleet-cart-id"

const state = { config: null, region: null, cart: null }

async function api(path, { method = "GET", body } = {}) {
  const response = await fetch(path, {
    method,
    headers: {
      "content-type": "application/json",
      "x-publishable-api-key": state.config.publishable_key,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const data = await response.json().catch(() => ({}))
  if (!response.ok) {
    throw new Error(data.message || `${method} ${path} failed with ${response.status}`)
  }
  return data
}

function $(id) {
  return document.getElementById(id)
}

function money(amount) {
  const currency = (state.region?.currency_code || "eur").toUpperCase()
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(amount)
}

function say(message, isError = false) {
  $("status").textContent = message
  $("status").classList.toggle("error", isError)
}

async function start() {
  const response = await fetch("/storefront/config")
  if (!response.ok) throw new Error("This store is not set up yet.")
  state.config = await response.json()
  document.title = state.config.store_name
  $("store-name").textContent = state.config.store_name
  state.region = (await api(`/store/regions/${state.config.region_id}`)).region
  fillCountries()
  await loadCart()
  await listProducts()
}

function fillCountries() {
  for (const country of state.region.countries) {
    const option = new Option(country.display_name || country.iso_2.toUpperCase(), country.iso_2)
    $("country_code").append(option)
  }
}

async function listProducts() {
  const query = new URLSearchParams({
    region_id: state.region.id,
    fields: "id,title,description,*variants.calculated_price",
  })
  const { products } = await api(`/store/products?${query}`)
  for (const product of products) {
    $("products").append(productItem(product))
  }
}

function productItem(product) {
  const variant = product.variants[0]
  const item = document.createElement("li")
  const title = document.createElement("h3")
  title.textContent = product.title
  const description = document.createElement("p")
  description.textContent = product.description || ""
  const price = document.createElement("p")
  price.className = "price"
  price.textContent = money(variant.calculated_price.calculated_amount)
  const button = document.createElement("button")
  button.type = "button"
  button.textContent = "Add to cart"
  button.setAttribute("aria-label", `Add ${product.title} to cart`)
  button.addEventListener("click", () => run(() => addToCart(variant.id, product.title)))
  item.append(title, description, price, button)
  return item
}

async function loadCart() {
  const id = localStorage.getItem(CART_KEY)
  if (!id) return
  try {
    const { cart } = await api(`/store/carts/${id}`)
    if (!cart.completed_at) showCart(cart)
  } catch {
    localStorage.removeItem(CART_KEY)
  }
}

async function ensureCart() {
  if (state.cart) return state.cart
  const { cart } = await api("/store/carts", { method: "POST", body: { region_id: state.region.id } })
  localStorage.setItem(CART_KEY, cart.id)
  return cart
}

async function addToCart(variantId, title) {
  const cart = await ensureCart()
  const { cart: updated } = await api(`/store/carts/${cart.id}/line-items`, {
    method: "POST",
    body: { variant_id: variantId, quantity: 1 },
  })
  showCart(updated)
  say(`${title} added to your cart.`)
}

function showCart(cart) {
  state.cart = cart
  const items = $("cart-items")
  items.replaceChildren()
  for (const line of cart.items || []) {
    const item = document.createElement("li")
    // Store API cart lines carry a unit price but no per-line total.
    item.textContent = `${line.quantity} × ${line.product_title} (${line.variant_title}): ${money(line.unit_price * line.quantity)}`
    items.append(item)
  }
  const empty = !cart.items || cart.items.length === 0
  $("cart-empty").hidden = !empty
  $("checkout").hidden = empty
  $("cart-total").textContent = empty ? "–" : money(cart.total)
}

async function saveAddress(event) {
  event.preventDefault()
  const form = new FormData($("address-form"))
  const address = {}
  for (const field of ["first_name", "last_name", "address_1", "postal_code", "city", "country_code"]) {
    address[field] = form.get(field)
  }
  const { cart } = await api(`/store/carts/${state.cart.id}`, {
    method: "POST",
    body: { email: form.get("email"), shipping_address: address, billing_address: address },
  })
  showCart(cart)
  await listShippingOptions()
  say("Address saved. Choose a shipping method.")
}

async function listShippingOptions() {
  const { shipping_options: options } = await api(`/store/shipping-options?cart_id=${state.cart.id}`)
  const fieldset = $("shipping-options")
  fieldset.querySelectorAll("div").forEach((node) => node.remove())
  options.forEach((option, index) => {
    const wrapper = document.createElement("div")
    const input = document.createElement("input")
    input.type = "radio"
    input.name = "shipping_option"
    input.id = `shipping-${option.id}`
    input.value = option.id
    input.required = true
    input.checked = index === 0
    const label = document.createElement("label")
    label.htmlFor = input.id
    label.textContent = `${option.name}: ${money(option.amount)}`
    wrapper.append(input, label)
    fieldset.append(wrapper)
  })
  $("shipping-form").hidden = false
}

async function placeOrder(event) {
  event.preventDefault()
  const optionId = new FormData($("shipping-form")).get("shipping_option")
  const cartId = state.cart.id
  await api(`/store/carts/${cartId}/shipping-methods`, { method: "POST", body: { option_id: optionId } })
  const { payment_collection: collection } = await api("/store/payment-collections", {
    method: "POST",
    body: { cart_id: cartId },
  })
  await api(`/store/payment-collections/${collection.id}/payment-sessions`, {
    method: "POST",
    body: { provider_id: PAYMENT_PROVIDER },
  })
  const result = await api(`/store/carts/${cartId}/complete`, { method: "POST" })
  if (result.type !== "order") throw new Error(result.error?.message || "The order was not placed.")
  showConfirmation(result.order)
}

function showConfirmation(order) {
  localStorage.removeItem(CART_KEY)
  state.cart = null
  $("checkout").hidden = true
  $("cart-items").replaceChildren()
  $("cart-empty").hidden = false
  $("cart-total").textContent = "–"
  $("order-display-id").textContent = `#${order.display_id}`
  $("order-id").textContent = order.id
  $("order-total").textContent = money(order.total)
  $("confirmation").hidden = false
  say("Your order is placed.")
}

// Runs one user action, showing its failure instead of losing it in the console.
// A form's submit button stays disabled while its action runs, so one click is one order.
async function run(action, event) {
  const button = event?.submitter
  if (button) button.disabled = true
  try {
    await action(event)
  } catch (error) {
    say(error.message, true)
  } finally {
    if (button) button.disabled = false
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("address-form").addEventListener("submit", (event) => run(saveAddress, event))
  $("shipping-form").addEventListener("submit", (event) => run(placeOrder, event))
  run(start)
})
