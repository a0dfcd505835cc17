"""The storm summary in Slack: its blocks, its buttons and modal, and its outbox sender."""
