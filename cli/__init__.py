"""The `kabuto` command line, every subcommand in one place (cli/main.py dispatches)."""
