"""Domain events of responses. Sent after commit; a receiver only enqueues a job."""

from django.dispatch import Signal

# kwargs: response_id (int), created (bool: the first rating), comment_added (bool)
response_changed = Signal()
