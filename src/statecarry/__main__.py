from statecarry.launch import main

main()
