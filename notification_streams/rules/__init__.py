"""The notification streams' pure rules: reminders, double enrolment and age-milestone notices,
as functions over plain facts, importing only the standard library and the linker's domain."""
