"""The fault-and-load suite: real web servers, workers, PostgreSQL, Redis, SMTP and webhooks."""
