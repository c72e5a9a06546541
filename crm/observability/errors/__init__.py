"""The error tracker (GlitchTip-style): events grouped into issues by fingerprint.

* :mod:`.models` projects (each with a DSN key), issues and events;
* :mod:`.fingerprint` the grouping key, :mod:`.scrub` what is never stored;
* :mod:`.services` the rules: store an event, group it, reopen on regression, notify admins,
  resolve/ignore/assign, turn an issue into a ticket;
* :mod:`.capture` our own unhandled errors (web requests, RQ jobs) into the built-in project;
* :mod:`.envelope` Sentry envelope/store parsing, :mod:`.ingest` its endpoints;
* :mod:`.pages` the console, :mod:`.jobs` housekeeping.
"""
