"""One module per `mttd` subcommand; see daemon/cli.py for the contract."""
