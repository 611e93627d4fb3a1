-- An insured person's loss or death ends their dependants' links (DOMAIN §6): the linker finds
-- the dependants by the insured person's relay id.
CREATE INDEX links_insured_person ON links (insured_relay_id) WHERE insured_relay_id IS NOT NULL;
