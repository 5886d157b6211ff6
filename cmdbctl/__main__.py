from cmdbctl.cli.main import main

main()
