"""Search: one query language (:mod:`crm.search.syntax`), one document and index per
searched type (:mod:`crm.search.schema` for tickets), and the SQL each database runs
(:mod:`crm.search.tickets`). Both PostgreSQL and SQLite give the same matches."""
