"""Operations: health checks, request ids and JSON logs, Prometheus metrics, retention."""
