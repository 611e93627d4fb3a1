"""The notification streams: reminders, double-enrolment and age-milestone notices.

Their pure rules are in `rules/`; `folding` folds the relay-internal messages into the facts
the rules read; the processor that delivers them is later work."""
