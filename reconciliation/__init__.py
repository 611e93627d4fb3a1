"""高額医療・高額介護合算 (DOMAIN §6): a household's self-pay over a year, medical and care
added up, the excess over its threshold paid back and shared among the insurers that took it."""
