"""Signed callbacks to game servers (Standard Webhooks): destinations, signing, retry schedule.

Pure Python on the standard library: the web checks a `callback_url` at submission with
`destinations`, the webhook worker signs (`signing`), sends (`sending`) and schedules retries
(`schedule`); their state lives in `db.webhooks`.
"""
