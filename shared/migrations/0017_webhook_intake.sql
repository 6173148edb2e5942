-- The webhooks intake takes store events in batches (services/webhooks/intake.py), and
-- with several replicas, or after a crash, a later batch can be committed before an
-- earlier one. So that a store's events still go out in stream order, the senders claim
-- only rows at or below the intake's horizon: the stream sequence up to which every
-- message of the `webhooks` consumer is committed here and acked (the consumer's ack
-- floor, read from NATS after each batch). One row; it only moves forward.

CREATE TABLE webhook_intake (
    single  boolean PRIMARY KEY DEFAULT true CHECK (single),
    horizon bigint NOT NULL
);
-- The one-message-at-a-time intake before this committed everything in stream order.
INSERT INTO webhook_intake (horizon) SELECT coalesce(max(stream_seq), 0) FROM webhook_deliveries;

GRANT SELECT, UPDATE ON webhook_intake TO storefleet_webhooks;
