"""Privacy: a person's data export (a ZIP built in a job, mailed as a link, expiring) and the deletion
of their account (erasure of personal data; financial records kept under a pseudonym)."""
