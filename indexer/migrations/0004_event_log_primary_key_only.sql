-- The raw event log is written at every batch and read rarely (audit, replay): its primary key
-- (block hash, event index) is the only index it keeps, so that catching up spends its time on
-- the chain, not on index maintenance. Typed tables serve the queries.
DROP INDEX contract_events_by_block;
DROP INDEX contract_events_by_signature;
