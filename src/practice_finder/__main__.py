from practice_finder.cli.main import main

main()
