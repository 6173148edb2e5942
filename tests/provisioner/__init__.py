"""Tests of the provisioner: guardrails, the WooCommerce engine chart, the worker pool."""
