-- Identifier and source keys compare as bytes.
--
-- These columns hold machine keys (normalized identifiers, adapter names, the adapters' own
-- record ids): they are only ever matched for equality, and their order means nothing to a
-- person. Under the database's linguistic collation every comparison in their indexes went
-- through strcoll; under "C" it is a memcmp. Equality is unchanged, since a deterministic
-- collation calls two texts equal only when their bytes are.
--
-- Changing a column's collation keeps the table's rows but rebuilds the indexes on it, under
-- an exclusive lock: on a large existing database run this migration in a quiet hour.
ALTER TABLE touchline.identities
    ALTER COLUMN kind TYPE text COLLATE "C",
    ALTER COLUMN value TYPE text COLLATE "C";

ALTER TABLE touchline.interactions
    ALTER COLUMN source TYPE text COLLATE "C",
    ALTER COLUMN external_id TYPE text COLLATE "C";
