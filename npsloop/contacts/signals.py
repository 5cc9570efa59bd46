"""Domain events of contacts. Sent after commit; a receiver only enqueues a job."""

from django.dispatch import Signal

# kwargs: contact_id (int), at (datetime)
contact_unsubscribed = Signal()
