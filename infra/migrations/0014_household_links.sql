-- Households (世帯) are kept as links of the resident scheme (category 'household'): a member
-- and their household token. The token is shared by every member, so it has no row of the
-- reference index (one number, one person); its sealed form is kept on the link itself.
ALTER TABLE links ADD COLUMN number_sealed bytea;
-- The members of a household, by its token's blind index (a later notifications processor
-- finds the householder through it).
CREATE INDEX links_household ON links (number_kind, number_index) WHERE category = 'household';
