from statecarry.cli import main

main()
