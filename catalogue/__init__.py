"""The resource catalogue (政务信息资源目录, 2017 编制指南 / GB/T 21063 core metadata).

Public surface (imported from the modules, so importing the package stays cheap):

* `catalogue.service` — register, change and review entries (`create_entry`, `update_entry`, `transition`),
  read what a principal may see (`get_visible_entry`, `visible_entries`, `list_versions`), census counters
  (`set_census`; `add_usage` / `add_usage_sync` for deliveries counted by the exchange), `find_entry`,
  `set_quality_score` (quality publishes each resource's latest score on its entry; not a version).
* `catalogue.visibility.Viewer` — who may see which entry; the one rule every list, search and export applies.
* `catalogue.departments` — the department register, `seed_demo_departments(session)` for `cpip demo`.
* `catalogue.basebase_sync.sync_basebases(session)` — the base databases' own entries (idempotent).
* `catalogue.search` — one interface (`search.base.SearchBackend`), the embedded back end (SQLite FTS5 /
  PostgreSQL tsvector) and Elasticsearch, sharing the analyzer in `search.analyzer`;
  `search.service.search_catalogue` runs the configured one.
* `catalogue.dcat.catalog` (DCAT-AP 3 JSON-LD) and `catalogue.export.csv_chunks` (CSV).
"""
