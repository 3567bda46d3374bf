from hlsd.cli import main

main()
