"""The command line: click commands that parse options, call one core function with
plain values, hand its result to a reporter and map errors to exit codes."""
