"""Process entry points: the RQ worker, the scheduler and the development stack."""
