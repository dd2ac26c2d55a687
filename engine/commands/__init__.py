"""Sub-commands of the `mailgate` CLI, one module each (HELP, add_arguments, run)."""
