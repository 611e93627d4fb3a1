"""The notification streams: reminders, double-enrolment and age-milestone notices.

Their pure rules are in `rules/`; the processor that delivers them is later work."""
