-- Documents under 256 KB are archived on Arweave as ANS-104 data items inside a bundle
-- transaction: their copy is the bundle's transaction id (`arweave_tx`) and the data item id.
-- NULL when there is no Arweave copy or the document is the transaction's own data.
ALTER TABLE documents
    ADD COLUMN arweave_item BYTEA CHECK (length(arweave_item) = 32),
    ADD CHECK (arweave_item IS NULL OR arweave_tx IS NOT NULL);

-- The archival service's work lists (`/documents/replication`), read in token id order: small
-- parts of the table each.
CREATE INDEX documents_arweave_wanted ON documents (token_id)
    WHERE arweave_requested AND arweave_tx IS NULL AND status <> 'deleted';
CREATE INDEX documents_arweave_unconfirmed ON documents (token_id)
    WHERE arweave_tx IS NOT NULL AND NOT arweave_permanent;
CREATE INDEX documents_ipfs_missing ON documents (token_id)
    WHERE ipfs_cid IS NULL AND status <> 'deleted';
