"""Listeners for what leaves Slack: Publish to status page."""
