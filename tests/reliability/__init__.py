"""Reliability suite: the platform under faults.

Here: PostgreSQL stopped, restarted and its backends terminated under load (test_database_outage),
ffmpeg crashing and the disk filling (test_pipeline_faults), a real worker process SIGKILLed
mid-transcode (test_worker_kill).

Covered elsewhere, not repeated here:
- double-spend storm on one wallet: tests/integration/test_ledger_concurrency.py
- webhooks replayed and reordered: tests/integration/test_wallet_web.py, tests/unit/test_wallet_service.py
- a run stopped inside a unit resumes with no orphans: tests/integration/test_transcode_resume.py,
  tests/integration/test_studio_postgres.py
"""
