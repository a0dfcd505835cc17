"""The outbox worker and the outcome vocabulary its senders (Slack, outgoing HTTP) share."""
