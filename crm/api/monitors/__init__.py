"""API resources of uptime monitoring, one module per sub-resource:

* :mod:`.monitors`: CRUD, export and import of monitor definitions;
* :mod:`.contact_groups`: a monitor's contacts and the named contact groups;
* :mod:`.history`: check history (logs) and uptime;
* :mod:`.agents`: results pushed by remote agents and heartbeat pings;
* :mod:`.incidents`: outages (staff: all; customers: their own monitors').

Handlers authorise, parse (the models of :mod:`.schemas`), call the services and engine of
:mod:`crm.monitoring`, and serialise; every refusal is a problem of the one shape rendered by
the app's handler (:mod:`crm.errors`). Importing the package registers the operations.
"""
from crm.api.monitors import (  # noqa: F401
    agents,
    contact_groups,
    history,
    incidents,
    monitors,
)
