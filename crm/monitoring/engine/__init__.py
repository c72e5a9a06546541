"""The check engine: :mod:`.scheduler` (due times), :mod:`.runner` (concurrent check
sessions), :mod:`.checks` (one module per check type), :mod:`.results` (recording outcomes,
opening and closing incidents), :mod:`.incidents` (reminders, escalation), :mod:`.heartbeat`,
:mod:`.rollups` (hourly/daily aggregates) and :mod:`.jobs` (the RQ entry points)."""
