"""Webhook subscriptions: signed (Standard Webhooks), at-least-once through durable jobs, dead letters, replay."""
