"""Benchmarks run against a real gunicorn + PostgreSQL + Redis on this machine."""
