#!/bin/sh
# Store setup with wp-cli. Idempotent: every step checks or converges, so a re-run (the
# Job retried, or re-created on a redelivered request) leaves the same store.
#
# Values from the environment never stand alone as arguments: wp-cli reads any argument
# starting with `-` as an option (`--exec=<php>` runs code), and the store's name is the
# owner's text. They reach wp-cli on stdin (`wp option update <key>` reads its value there
# when the value is omitted) or glued to their option (`--title=...`).
set -eu

log() { echo "setup: $*"; }

log "waiting for the database"
tries=0
until php -r '
  mysqli_report(MYSQLI_REPORT_OFF);
  [$host, $port] = array_pad(explode(":", getenv("WORDPRESS_DB_HOST")), 2, 3306);
  $db = @mysqli_connect($host, getenv("WORDPRESS_DB_USER"), getenv("WORDPRESS_DB_PASSWORD"),
                        getenv("WORDPRESS_DB_NAME"), (int) $port);
  exit($db ? 0 : 1);'; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then log "database not reachable after 5 minutes"; exit 1; fi
  sleep 5
done

if wp core is-installed >/dev/null 2>&1; then
  log "WordPress already installed"
else
  log "installing WordPress"
  wp core install --url="$STORE_URL" --title="$STORE_NAME" --admin_user="$ADMIN_USER" \
    --admin_password="$ADMIN_PASSWORD" --admin_email="$ADMIN_EMAIL" --skip-email
fi
# A restored database is another moment's, a cloned one another store's: converge the
# address and the admin's password to this store's (the old address is owner-controlled
# data, so it must look like a URL before it reaches wp-cli as an argument).
old_url="$(wp option get home)"
if [ "$old_url" != "$STORE_URL" ]; then
  case "$old_url" in
    http://*|https://*) ;;
    *) log "refusing to move the site from an address that is not a URL"; exit 1 ;;
  esac
  log "moving the site to $STORE_URL"
  wp search-replace "$old_url" "$STORE_URL" --all-tables-with-prefix --skip-columns=guid --precise
fi
printf '%s' "$ADMIN_PASSWORD" | wp user update "$ADMIN_USER" --prompt=user_pass
printf '%s' "$STORE_NAME" | wp option update blogname
printf '%s' "$ADMIN_EMAIL" | wp option update admin_email
wp rewrite structure '/%postname%/'

installed="$(wp plugin get woocommerce --field=version 2>/dev/null || true)"
if [ "$installed" != "$WOOCOMMERCE_VERSION" ]; then
  log "installing WooCommerce $WOOCOMMERCE_VERSION (found: ${installed:-none})"
  wp plugin install woocommerce --version="$WOOCOMMERCE_VERSION" --force
fi
wp plugin is-active woocommerce || wp plugin activate woocommerce

log "configuring the shop"
printf '%s' "$STORE_COUNTRY" | wp option update woocommerce_default_country
printf '%s' "$STORE_CURRENCY" | wp option update woocommerce_currency
# Open for business at once: no "coming soon" page, no onboarding wizard, no nags.
wp option update woocommerce_coming_soon no
wp option update woocommerce_store_pages_only no
wp option update woocommerce_onboarding_profile '{"skipped":true,"completed":true}' --format=json
wp option update woocommerce_task_list_hidden yes
wp option update woocommerce_task_list_complete yes
wp option update woocommerce_extended_task_list_hidden yes
wp option update woocommerce_show_marketplace_suggestions no
wp option update woocommerce_allow_tracking no
wp wc tool run install_pages --user="$ADMIN_USER"
wp option update woocommerce_cod_settings --format=json \
  '{"enabled":"yes","title":"Cash on delivery","description":"Pay with cash upon delivery.","instructions":"Pay with cash upon delivery.","enable_for_methods":[],"enable_for_virtual":"yes"}'

mkdir -p wp-content/mu-plugins
if [ -n "${SMTP_HOST:-}" ]; then
  log "sending mail through $SMTP_HOST"
  cp /scripts/storefleet-smtp.php wp-content/mu-plugins/storefleet-smtp.php
else
  rm -f wp-content/mu-plugins/storefleet-smtp.php
fi
log "done"
