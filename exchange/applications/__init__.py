"""Access applications and their review (申请 → 审批)."""
