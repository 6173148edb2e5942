#!/bin/sh
# WP-Cron and WooCommerce's Action Scheduler, run by the CronJob instead of page loads.
set -eu
if ! wp core is-installed >/dev/null 2>&1; then
  echo "cron: store not set up yet"
  exit 0
fi
wp cron event run --due-now
if wp plugin is-active woocommerce; then
  wp action-scheduler run --batch-size=25 --batches=4
fi
