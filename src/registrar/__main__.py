from registrar.cli import main

main()
