"""`python -m bot` is the CLI."""

from bot.cli import main

main()
