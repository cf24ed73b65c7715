"""数据资源开放共享 indicators from the platform's own records (issue 8).

* `definitions/*.yaml` + `exchange.indicators.definitions` — versioned indicator sets (tree, weights, sources)
* `exchange.indicators.counts` — the named counts; `exchange.indicators.compute` — computing them
* `exchange.indicators.engine` — GB/T 33356-2016 scoring; `exchange.indicators.service` — reports, stored
  results of closed periods, explanations down to the records
* `exchange.indicators.rollups` — daily audit rollups (job `indicators.rollup`)
* `exchange.indicators.manual` — signed manual inputs; `exchange.indicators.render` — CSV and HTML reports
"""
