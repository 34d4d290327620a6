from cropedge.cli import main

main()
