"""The notification streams' pure rules: reminders, double enrolment and age notices.

Functions over plain facts (`facts`); no Kafka, no database, only the standard library and the
linker's pure domain."""
