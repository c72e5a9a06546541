"""Uptime monitoring: monitors and their checks, incidents, alerts, dashboards, status pages,
synthetic transactions and health reports.

Layout (each sub-package has one role):

- :mod:`crm.monitoring.models`, :mod:`~crm.monitoring.schemas`, :mod:`~crm.monitoring.services`
  (the rules, used by the console, the API and the workers) and :mod:`~crm.monitoring.access`
  (the one lookup helper per resource);
- :mod:`crm.monitoring.engine`: scheduler, runner, checks, results, incidents, heartbeats,
  rollups and the RQ jobs;
- :mod:`crm.monitoring.alerts`: subscribers of the ``monitor.*`` domain events;
- :mod:`crm.monitoring.pages`: the console (blueprints ``monitoring``, ``maintenance``,
  ``reports`` and the public ``status_pages``), templates under ``templates/monitoring/``.
"""
from crm.monitoring import models  # noqa: F401  (mappers)
