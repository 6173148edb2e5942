-- Test sends (issue 17): an endpoint's owner asks the gateway for one delivery of a
-- synthetic `webhook.test` event to that endpoint (POST /api/v1/webhooks/{id}/test,
-- services/gateway/webhook_db.py `queue_test`). The gateway writes the pending row
-- itself; the webhooks service then sends, retries and logs it like any other.
--
-- A test delivery belongs to no store: its `store_id` is '' (no store event has an
-- empty store id) and its `stream_seq` 0. The senders claim per (endpoint, store) in
-- stream order and only at or below the intake's horizon (0017), which is never below
-- 0; so a test delivery is its own run, claimable at once, and neither waits behind a
-- store's events nor holds them up.

GRANT INSERT (endpoint_id, event_id, event_type, store_id, occurred_at, stream_seq, body)
    ON webhook_deliveries TO storefleet_gateway;
GRANT USAGE ON SEQUENCE webhook_deliveries_id_seq TO storefleet_gateway;
