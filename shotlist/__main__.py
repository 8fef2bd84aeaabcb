from shotlist.cli.app import main

main()
