"""Pages the bot serves to people outside Slack (shared journals)."""
