"""The lipc command line: main parser and dispatch, one module per subcommand family."""
