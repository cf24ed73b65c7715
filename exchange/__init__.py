"""The exchange (共享交换): 找数据 → 申请 → 审批 → 授权 → 交付. See docs/exchange.md.

* `exchange.applications.service` — apply, approve, refuse, withdraw, flag overdue (working-day deadlines,
  `exchange.workdays`)
* `exchange.grants.service`, `exchange.grants.quota` — grants, their status and daily quotas
* `exchange.delivery.view.View` — the one enforcement point of every data path; `exchange.delivery.service`
  finds the view a caller may read through; `exchange.delivery.exports` — bulk export files
* `exchange.feed.service` — the per-resource change feed
* `exchange.webhooks` — subscriptions, the outbox, signed delivery
* `exchange.submissions.service` — quality-gated batches from providers
* `exchange.models` — every table; `exchange.jobs` — every job handler; `exchange.cli` — `cpip exchange`
"""
