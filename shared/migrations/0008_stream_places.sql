-- The event streams open on every gateway replica, so the cap of streams per user
-- (`STOREFLEET_SSE_STREAMS_PER_USER`) holds across replicas. Written by the gateway only.
-- A row is a lease: its replica renews it at every credential re-check of the stream and
-- deletes it when the stream ends; the rows of a replica that died expire by themselves
-- (`held_until`) and are swept when the user next opens a stream.

CREATE TABLE stream_places (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    held_until  timestamptz NOT NULL
);
CREATE INDEX stream_places_user ON stream_places (user_id, held_until);

GRANT SELECT, INSERT, UPDATE, DELETE ON stream_places TO storefleet_gateway;
